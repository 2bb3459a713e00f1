//! Nothing accepted is lost: every scan that got an answer is in the visits table after the server is
//! killed with SIGKILL in the middle of a load.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path, port: u16) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SENTINEL_")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("SENTINEL_BOOTSTRAP_ADMIN", "admin:admin-password-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

async fn ready(base: &str) {
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    client.post(url).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_scans_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start(dir.path(), port);
    ready(&base).await;

    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap().to_owned();
    for (code, name) in [("320000", "江苏省"), ("320500", "苏州市"), ("320508", "姑苏区")] {
        post(&client, format!("{base}/api/v1/regions"), &admin, json!({"code": code, "name_zh": name})).await;
    }
    let venue = post(&client, format!("{base}/api/v1/venues"), &admin, json!({"name": "观前超市", "category": "supermarket", "region_code": "320508", "address": "观前街2号"})).await;
    let device = post(
        &client,
        format!("{base}/api/v1/venues/{}/devices", venue["id"]),
        &admin,
        json!({"name": "入口", "kind": "sentinel"}),
    )
    .await;
    let device_token = device["token"].as_str().unwrap().to_owned();
    let person = post(
        &client,
        format!("{base}/api/v1/persons"),
        &admin,
        json!({"id_number": "11010519491231002X", "name": "张三", "region_code": "320508"}),
    )
    .await;
    let code =
        post(&client, format!("{base}/api/v1/persons/{}/health-code", person["id"]), &admin, json!({})).await;
    let token = code["token"].as_str().unwrap().to_owned();

    // Four scanners send until the server dies under them.
    let mut tasks = Vec::new();
    for lane in 0..4 {
        let (client, base, device_token, token) =
            (client.clone(), base.clone(), device_token.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in 0..10_000 {
                let body = json!({"idempotency_key": format!("lane{lane}-{i}"), "health_code": token, "temperature_c": 36.5, "mask": true});
                let sent = client.post(format!("{base}/api/v1/device/scans")).bearer_auth(&device_token).json(&body).send().await;
                let Ok(response) = sent else { break };
                let Ok(answer) = response.json::<Value>().await else { break };
                if let Some(id) = answer["visit_id"].as_i64() {
                    answered.push(id);
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let mut answered = Vec::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    assert!(answered.len() > 20, "the load ran before the kill: {} answers", answered.len());

    let _server = start(dir.path(), port);
    ready(&base).await;
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap();
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/visits?limit=500&cursor={c}"),
            None => format!("{base}/api/v1/visits?limit=500"),
        };
        let page: Value = client.get(url).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
        stored.extend(page["items"].as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    let missing: Vec<&i64> = answered.iter().filter(|id| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "{} of {} answered scans lost: {missing:?}", missing.len(), answered.len());
}
