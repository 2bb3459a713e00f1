//! The `sentinel` command as a user runs it: migrate, keys, bad input, and the demo end to end.

mod support;

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::receiver;

fn sentinel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    // The tests' own environment must not leak configuration into the command.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SENTINEL_")) {
        cmd.env_remove(k);
    }
    cmd
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = sentinel().args(["migrate", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).into_owned();
    let version: u32 = first.rsplit("schema version ").next().unwrap().trim().parse().unwrap();
    assert!(version >= 2, "{first}");
    assert!(dir.path().join("sentinel.sqlite").exists());
    let again = sentinel().args(["migrate", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), first, "migrating twice changes nothing");
    assert!(dir.path().join("data.key").exists());
}

#[test]
fn keys_generate_a_data_key() {
    let out = sentinel().args(["keys", "generate-data-key"]).output().unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()));
}

/// `sentinel … | head -1`: the reader has gone before the command writes its result.
#[test]
fn a_closed_output_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for args in
        [&["keys", "generate-data-key"][..], &["migrate", "--data-dir"], &["keys", "list", "--data-dir"]]
    {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = sentinel();
        cmd.args(args);
        if args.last() == Some(&"--data-dir") {
            cmd.arg(dir.path());
        }
        let out = cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write to standard output"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = sentinel()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", "mysql://root@localhost/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));

    let out = sentinel().arg("serve").env("SENTINEL_LISTEN", "nowhere").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SENTINEL_LISTEN"));

    let out = sentinel()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("SENTINEL_DATA_KEY", "abcd")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("64"));
}

#[test]
fn signing_keys_rotate_and_retire() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = sentinel().args(args).arg("--data-dir").arg(dir.path()).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, list, _) = run(&["keys", "list"]);
    assert!(ok && list.contains("anchor") && list.matches("issuer").count() == 1, "{list}");
    let (ok, rotated, _) = run(&["keys", "rotate"]);
    assert!(ok, "{rotated}");
    let new_kid = rotated
        .split_whitespace()
        .map(|w| w.trim_end_matches(';'))
        .find(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap()
        .to_owned();
    let (_, list, _) = run(&["keys", "list"]);
    assert_eq!(list.matches("issuer").count(), 2, "{list}");
    assert!(list.contains(&new_kid));
    let (ok, _, err) = run(&["keys", "retire", "0000000000000000"]);
    assert!(!ok && err.contains("no key"), "{err}");
    let (ok, retired, _) = run(&["keys", "retire", &new_kid]);
    assert!(ok, "{retired}");
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_demo(dir: &std::path::Path, port: u16) -> Demo {
    let child = sentinel()
        .args([
            "demo",
            "--seed",
            "3",
            "--persons",
            "300",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        // What the demo prints (logins, the poster, the resident) is read by the test.
        .stdout(Stdio::from(std::fs::File::create(dir.join("demo.out")).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let demo = Demo(child);
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "demo did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    demo
}

/// The demo prints a poster (written to disk) and a resident to sign in as: a person following those lines
/// signs in with the code the demo page shows and, through the poster's URL, gets the result page.
async fn resident_follows_the_printed_flow(base: &str, dir: &std::path::Path) {
    let printed = std::fs::read_to_string(dir.join("demo.out")).unwrap();
    let line = |marker: &str| {
        printed
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("{marker} in {printed}"))
            .to_owned()
    };
    let poster = line("poster:");
    // The PNG and PDF need a CJK font (CI installs one); the SVG is always written.
    let file = poster
        .split_whitespace()
        .find(|w| w.ends_with(".png") || w.ends_with(".svg"))
        .expect("a poster path");
    assert!(std::path::Path::new(file).exists(), "{poster}");
    if std::env::var_os("SENTINEL_REQUIRE_FONTS").is_some() {
        assert!(file.ends_with(".png"), "{poster}");
    }
    let url_line = printed.lines().skip_while(|l| !l.contains("poster:")).nth(1).unwrap();
    let url = url_line.trim();
    assert!(url.starts_with(&format!("{base}/v/")), "{url}");
    let resident = line("resident:");
    let words: Vec<&str> = resident.split_whitespace().collect();
    let after = |w: &str| words[words.iter().position(|x| *x == w).unwrap() + 1].to_owned();
    let (id, phone) = (after("ID"), after("phone"));
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let path = url.strip_prefix(base).unwrap();
    let form = [("id_number", id.as_str()), ("phone", phone.as_str()), ("next", path)];
    let page =
        browser.post(format!("{base}/r/login")).form(&form).send().await.unwrap().text().await.unwrap();
    let at = page.find("id=\"demo-code\"").expect("the demo shows the code");
    let code: String = page[at..].chars().filter(char::is_ascii_digit).take(6).collect();
    let form = [("id_number", id.as_str()), ("code", code.as_str()), ("next", path)];
    let result = browser.post(format!("{base}/r/verify")).form(&form).send().await.unwrap();
    assert_eq!(result.url().path(), path, "back to the check-in after signing in");
    let html = result.text().await.unwrap();
    let venue = poster.split("poster:").nth(1).unwrap().split('—').next().unwrap().trim();
    assert!(html.contains("class=\"result") && html.contains(venue), "{venue}: {html}");
}

/// The issue's walk-through on the demo city, following what `sentinel demo` printed: a green resident
/// with a fresh NAT passes at the mall; without a mask is reminded; at 38.2 °C is denied with a fever
/// alert; turned red, is denied with "健康码异常", and the alert reaches the grid worker's live stream
/// within a second and a webhook receiver with a valid signature.
async fn gate_follows_the_printed_flow(base: &str, dir: &std::path::Path, admin: &str, password: &str) {
    use hmac::Mac;
    let printed = std::fs::read_to_string(dir.join("demo.out")).unwrap();
    let after = |marker: &str, word: &str| -> String {
        let line =
            printed.lines().find(|l| l.contains(marker)).unwrap_or_else(|| panic!("{marker}: {printed}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        words[words.iter().position(|w| *w == word).unwrap() + 1].to_owned()
    };
    let device = after("device:", "token");
    let person = after("passes:", "person");
    assert!(printed.lines().any(|l| l.contains("grid:") && l.contains("grid1")), "{printed}");
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        let req = client.post(format!("{base}{path}")).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (hook_url, mut hooks) = receiver().await;
    let secret = "demo-hook-secret";
    let (status, hook) =
        post("/api/v1/webhooks", admin, json!({"url": hook_url, "secret": secret, "format": "json"})).await;
    assert_eq!(status, 201, "{hook}");
    let issue = || async { post(&format!("/api/v1/persons/{person}/health-code"), admin, json!({})).await.1 };
    let code = issue().await["token"].as_str().unwrap().to_owned();
    let scan = |key: &str, code: &str, temperature: f64, mask: bool| {
        let body =
            json!({"idempotency_key": key, "health_code": code, "temperature_c": temperature, "mask": mask});
        post("/api/v1/device/scans", &device, body)
    };
    let (status, pass) = scan("demo-1", &code, 36.5, true).await;
    assert_eq!((status.as_u16(), pass["outcome"].as_str()), (200, Some("pass")), "{pass}");
    let (_, remind) = scan("demo-2", &code, 36.5, false).await;
    assert_eq!((remind["outcome"].as_str(), remind["reasons"].clone()), (Some("remind"), json!(["no_mask"])));
    assert_eq!(remind["prompt"]["zh"], "请佩戴口罩", "{remind}");
    let (_, fever) = scan("demo-3", &code, 38.2, true).await;
    assert_eq!((fever["outcome"].as_str(), fever["reasons"].clone()), (Some("deny"), json!(["fever"])));

    let grid = login(&client, base, "grid1", password).await;
    let open = get(&client, &format!("{base}/api/v1/alerts?status=open"), &grid).await;
    let kinds: Vec<&str> =
        open["items"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"fever"), "the fever alert is grid1's: {open}");
    let mut stream =
        client.get(format!("{base}/api/v1/alerts/stream")).bearer_auth(&grid).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let red = json!({"person_id": person.parse::<i64>().unwrap(), "colour": "red", "reason": "密接"});
    assert_eq!(post("/api/v1/health/code-assignments", admin, red).await.0, 201);
    let code = issue().await["token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let (_, denied) = scan("demo-4", &code, 36.5, true).await;
    assert_eq!((denied["outcome"].as_str(), denied["reasons"].clone()), (Some("deny"), json!(["code_red"])));
    assert!(denied["prompt"]["zh"].as_str().unwrap().contains("健康码异常"), "{denied}");
    let mut seen = String::new();
    while !seen.contains("code_red") {
        let left = Duration::from_secs(1).saturating_sub(started.elapsed());
        let chunk = tokio::time::timeout(left, stream.chunk()).await.expect("the alert within a second");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
    }
    // The webhook hears the fever and the red code, each signed with the secret.
    let mut kinds = Vec::new();
    while !kinds.contains(&"code_red".to_owned()) {
        let (head, body) =
            tokio::time::timeout(Duration::from_secs(10), hooks.recv()).await.unwrap().unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&body);
        let expected = format!("x-sentinel-signature: sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(head.lines().any(|l| l == expected), "{head}");
        let event: Value = serde_json::from_slice(&body).unwrap();
        kinds.push(event["alert"]["kind"].as_str().unwrap().to_owned());
    }
    assert!(kinds.contains(&"fever".to_owned()), "{kinds:?}");
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let body = json!({"username": username, "password": password});
    let res: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().expect("login succeeds").to_owned()
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn count(client: &reqwest::Client, base: &str, path: &str, token: &str) -> usize {
    let (mut total, mut cursor) = (0, None::<String>);
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{base}{path}{sep}limit=500&cursor={c}"),
            None => format!("{base}{path}{sep}limit=500"),
        };
        let page = get(client, &url, token).await;
        total += page["items"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return total,
        }
    }
}

/// The demo seeds a Suzhou once, serves it, and keeps personal data out of the database file in clear.
#[tokio::test]
async fn demo_seeds_idempotently_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let password = {
        let _demo = start_demo(dir.path(), port).await;
        std::fs::read_to_string(dir.path().join("demo-password.txt")).unwrap()
    };
    // Second start on the same data: nothing is seeded twice.
    let _demo = start_demo(dir.path(), port).await;
    let admin = login(&client, &base, "admin", &password).await;
    let token = admin.as_str();
    assert_eq!(count(&client, &base, "/api/v1/persons", token).await, 300);
    let venues = count(&client, &base, "/api/v1/venues", token).await;
    assert!(venues >= 300, "{venues} venues");
    let districts = get(&client, &format!("{base}/api/v1/regions?parent=320500"), token).await;
    let names: Vec<&str> =
        districts["items"].as_array().unwrap().iter().map(|d| d["name_zh"].as_str().unwrap()).collect();
    assert!(names.contains(&"姑苏区") && names.contains(&"昆山市"), "{names:?}");

    resident_follows_the_printed_flow(&base, dir.path()).await;
    gate_follows_the_printed_flow(&base, dir.path(), token, &password).await;

    let grid = login(&client, &base, "grid1", &password).await;
    let seen = get(&client, &format!("{base}/api/v1/persons?limit=500"), &grid).await;
    let homes: std::collections::HashSet<&str> =
        seen["items"].as_array().unwrap().iter().map(|p| p["region_code"].as_str().unwrap()).collect();
    assert!(
        homes.len() == 1 && homes.iter().all(|h| h.len() == 15),
        "a grid worker sees their own grid's residents and no one else: {homes:?}"
    );

    let mut secrets = Vec::new();
    for id in 1..=20 {
        let p = get(&client, &format!("{base}/api/v1/persons/{id}?purpose=strings-check"), token).await;
        secrets.push(p["id_number"].as_str().unwrap().to_owned());
        secrets.push(p["name"].as_str().unwrap().to_owned());
        if let Some(phone) = p["phone"].as_str() {
            secrets.push(phone.to_owned());
        }
    }
    // While the demo serves, the command line imports NAT results for these residents.
    let ids: Vec<String> = secrets.iter().filter(|s| s.len() == 18 && s.is_ascii()).cloned().collect();
    let mut csv = String::from("id_number,sampled_at,reported_at,result,kind\n");
    for id in &ids {
        csv.push_str(&format!("{id},2024-04-28 09:00:00,2024-04-28 15:00:00,negative,pcr\n"));
    }
    csv.push_str("110105194912310021,2024-04-28 09:00:00,2024-04-28 15:00:00,negative,pcr\n");
    let file = dir.path().join("nat.csv");
    std::fs::write(&file, csv).unwrap();
    let report = dir.path().join("rejected.csv");
    let out = sentinel()
        .args(["import", "nat-results"])
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{} accepted ({} new", ids.len(), ids.len())), "{stdout}");
    assert!(stdout.contains("1 rejected"), "{stdout}");
    let rejected = std::fs::read_to_string(&report).unwrap();
    assert!(
        rejected.starts_with('\u{feff}') && rejected.contains(&format!("{},", ids.len() + 2)),
        "{rejected}"
    );
    let again = sentinel()
        .args(["import", "nat-results"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("(0 new"), "re-importing changes nothing");
    // The load generator drives simulated devices against the running demo.
    let load = sentinel()
        .args([
            "load",
            "--url",
            &base,
            "--devices",
            "2",
            "--persons",
            "20",
            "--seconds",
            "2",
            "--password",
            &password,
        ])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&load.stdout);
    assert!(load.status.success(), "{summary} {}", String::from_utf8_lossy(&load.stderr));
    let scans: usize = summary.split_whitespace().next().unwrap().parse().unwrap();
    assert!(scans > 10 && summary.contains("; 0 errors"), "{summary}");
    // A mix of what residents show: phone codes mostly, ID cards and paper codes too, now and then a bad code.
    let channels = summary.lines().find(|l| l.starts_with("channels:")).expect("channels line");
    for channel in ["health_code", "id_card", "paper_code"] {
        assert!(channels.contains(&format!("\"{channel}\"")), "{summary}");
    }
    let reasons = summary.lines().find(|l| l.starts_with("reasons:")).expect("reasons line");
    assert!(!reasons.contains("unknown_person"), "every card read is a registered resident: {summary}");
    let bad =
        sentinel().args(["import", "x-rays"]).arg(&file).arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown import kind"));

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("sentinel.sqlite") {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    for secret in &secrets {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} stored in clear");
    }
}

fn run_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = sentinel().args(args).arg("--data-dir").arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn figure(text: &str, before: &str) -> usize {
    let at = text.find(before).unwrap_or_else(|| panic!("{before:?} in {text}"));
    text[..at].split_whitespace().last().unwrap().parse().unwrap()
}

/// `sentinel gen` writes a deterministic city of visits once; `sentinel trace` traces them, one case or a batch.
#[test]
fn gen_writes_visits_that_trace_reads() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Three days ending a week ago: inside the 30 days a trace reads, whenever the test runs.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let end = chrono::Utc::now().with_timezone(&cst).date_naive() - chrono::Duration::days(7);
    let end_flag = end.to_string();
    let gen_args = ["gen", "--persons", "600", "--days", "3", "--seed", "5", "--end", end_flag.as_str()];
    let first = run_ok(&gen_args, a.path());
    let visits = figure(&first, "visits over 3 days");
    assert!((600..2400).contains(&visits), "{first}");
    assert!(run_ok(&gen_args, a.path()).contains("already generated"), "a second run adds nothing");
    assert_eq!(figure(&run_ok(&gen_args, b.path()), "visits over 3 days"), visits, "same seed, same city");

    let cases = a.path().join("cases.csv");
    let mut csv = String::from("person,sampled_at\n");
    for p in 1..=40 {
        csv.push_str(&format!("{p},{end} 20:00\n"));
    }
    std::fs::write(&cases, csv).unwrap();
    let out = a.path().join("contacts.csv");
    let traced = run_ok(
        &[
            "trace",
            "--cases",
            cases.to_str().unwrap(),
            "--rule-set",
            "cwa-like",
            "--out",
            out.to_str().unwrap(),
        ],
        a.path(),
    );
    let close = figure(&traced, ", 次密接");
    assert!(close > 0, "{traced}");
    let listed = std::fs::read_to_string(&out).unwrap();
    assert_eq!(listed.lines().count(), 1 + close, "cwa-like has close contacts only: {traced}");
    assert!(listed.lines().skip(1).all(|l| l.split(',').nth(1) == Some("close")));

    for (args, message) in [
        (vec!["trace", "--person", "1"], "--sampled-at"),
        (
            vec!["trace", "--person", "1", "--onset-at", "2026-11-20", "--rule-set", "nope"],
            "unknown rule set",
        ),
        (vec!["trace", "--person", "1", "--onset-at", "last week"], "invalid time"),
        (vec!["trace", "--person", "99999", "--onset-at", "2026-11-20 10:00"], "no person 99999"),
        (
            vec!["trace", "--person", "110105198001011000", "--onset-at", "2026-11-20 10:00"],
            "no person 110105198001011000",
        ),
        (vec!["gen", "--days", "0"], "--days"),
        (vec!["gen", "--end", "2999-01-01"], "future"),
    ] {
        let out = sentinel().args(&args).arg("--data-dir").arg(a.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(message), "{args:?}: {stderr}");
    }
}
