//! Nothing accepted is lost: every scan that got an answer is in the visits table after the server is
//! killed with SIGKILL in the middle of a load, on SQLite and on PostgreSQL; and the alerts those scans
//! raised reach a webhook after the restart, each raised once, a resend carrying the same delivery id.

mod support;

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path, port: u16, database_url: Option<&str>) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SENTINEL_")) {
        cmd.env_remove(k);
    }
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(dir);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let child = cmd
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

async fn login(client: &reqwest::Client, base: &str) -> String {
    let body = json!({"username": "admin", "password": "admin-password-1"});
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_owned()
}

/// Every item of a paged list.
async fn all(client: &reqwest::Client, base: &str, path: &str, admin: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}{path}?limit=500&cursor={c}"),
            None => format!("{base}{path}?limit=500"),
        };
        let page: Value = client.get(url).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_scans_survive_sigkill_sqlite() {
    answered_scans_survive_sigkill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_scans_survive_sigkill_postgres() {
    let Some(admin_url) =
        sentinel_store::testing::postgres_url_or_skip("answered_scans_survive_sigkill_postgres")
    else {
        return;
    };
    let db = sentinel_store::testing::TestDatabase::create(&admin_url).await.unwrap();
    answered_scans_survive_sigkill(Some(&db.url)).await;
    db.drop_database().await.unwrap();
}

async fn answered_scans_survive_sigkill(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start(dir.path(), port, database_url);
    ready(&base).await;

    let admin = login(&client, &base).await;
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
    let mut codes = Vec::new();
    for (id_number, name, colour) in
        [("11010519491231002X", "张三", None), ("110105194912310038", "李四", Some("red"))]
    {
        let person = post(
            &client,
            format!("{base}/api/v1/persons"),
            &admin,
            json!({"id_number": id_number, "name": name, "region_code": "320508"}),
        )
        .await;
        if let Some(colour) = colour {
            let red = json!({"person_id": person["id"], "colour": colour, "reason": "密接"});
            post(&client, format!("{base}/api/v1/health/code-assignments"), &admin, red).await;
        }
        let code =
            post(&client, format!("{base}/api/v1/persons/{}/health-code", person["id"]), &admin, json!({}))
                .await;
        codes.push(code["token"].as_str().unwrap().to_owned());
    }
    let (hook_url, mut hooks) = support::receiver().await;
    let hook = json!({"url": hook_url, "secret": "sigkill-secret", "format": "json"});
    assert!(post(&client, format!("{base}/api/v1/webhooks"), &admin, hook).await["id"].is_i64());

    // Four scanners send until the server dies under them; every fifth scan is the red code (an alert).
    let mut tasks = Vec::new();
    for lane in 0..4 {
        let (client, base, device_token, codes) =
            (client.clone(), base.clone(), device_token.clone(), codes.clone());
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in 0..10_000 {
                let code = &codes[usize::from(i % 5 == 0)];
                let body = json!({"idempotency_key": format!("lane{lane}-{i}"), "health_code": code, "temperature_c": 36.5, "mask": true});
                let sent = client.post(format!("{base}/api/v1/device/scans")).bearer_auth(&device_token).json(&body).send().await;
                let Ok(response) = sent else { break };
                let Ok(answer) = response.json::<Value>().await else { break };
                if let Some(id) = answer["visit_id"].as_i64() {
                    let red = answer["reasons"].as_array().is_some_and(|r| r.contains(&json!("code_red")));
                    answered.push((id, red));
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

    let _server = start(dir.path(), port, database_url);
    ready(&base).await;
    let admin = login(&client, &base).await;
    let stored: HashSet<i64> = all(&client, &base, "/api/v1/visits", &admin)
        .await
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    let missing: Vec<_> = answered.iter().filter(|(id, _)| !stored.contains(id)).collect();
    assert!(missing.is_empty(), "{} of {} answered scans lost: {missing:?}", missing.len(), answered.len());

    // Each answered red-code scan raised its alert once, in the visit's transaction (both residents'
    // scans also raise the missing-NAT and unvaccinated ones).
    let alerts = all(&client, &base, "/api/v1/alerts", &admin).await;
    let mut alert_of_visit = HashMap::new();
    for a in &alerts {
        let key = (a["visit_id"].as_i64().unwrap(), a["kind"].as_str().unwrap().to_owned());
        let earlier = alert_of_visit.insert(key, a["id"].as_i64().unwrap());
        assert!(earlier.is_none(), "one alert of a kind per visit: {a}");
    }
    for (visit, red) in &answered {
        assert_eq!(alert_of_visit.contains_key(&(*visit, "code_red".to_owned())), *red, "visit {visit}");
    }
    assert!(answered.iter().any(|(_, red)| *red), "the red code was scanned");
    // After the restart, the webhook hears of every alert (a delivery cut off by the kill is sent again
    // once its lease runs out), and a delivery heard twice is the same delivery id, which it drops.
    let wanted: HashSet<i64> = alert_of_visit.values().copied().collect();
    let mut heard: HashMap<i64, i64> = HashMap::new();
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while heard.values().copied().collect::<HashSet<_>>() != wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((head, body))) = tokio::time::timeout(left, hooks.recv()).await else {
            let unheard: Vec<_> = wanted.iter().filter(|a| !heard.values().any(|h| h == *a)).collect();
            panic!("{} of {} alerts never delivered: {unheard:?}", unheard.len(), wanted.len());
        };
        let delivery: i64 = head
            .lines()
            .find_map(|l| l.strip_prefix("x-sentinel-delivery: "))
            .expect("a delivery id")
            .parse()
            .unwrap();
        let alert = serde_json::from_slice::<Value>(&body).unwrap()["alert"]["id"].as_i64().unwrap();
        received += 1;
        assert!(wanted.contains(&alert), "an alert that was stored: {alert}");
        let before = heard.insert(delivery, alert);
        assert!(before.is_none_or(|b| b == alert), "delivery {delivery} is one alert");
    }
    assert_eq!(heard.len(), wanted.len(), "one delivery per alert and webhook");
    eprintln!(
        "{} scans answered before the kill, {} alerts, all delivered ({} requests: {} resent)",
        answered.len(),
        wanted.len(),
        received,
        received - heard.len()
    );
}
