//! The gate budget (issue 4): decisions per second over HTTP on loopback with the visit committed, at
//! least half of a core's raw Ed25519 verifications per second; and the p99 latency at half that rate.

use chrono::{Duration, Utc};
use coset::CborSerializable;
use ed25519_dalek::{Signer, Verifier as _};
use sentinel_server::{Config, Secret};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use crate::report::{Figure, print};
use sentinel_sim::gate_connection::{GateConnection, Method};
use sentinel_sim::load::percentile;

/// One core's Ed25519 verifications per second of `message` (what a health code's signature covers), one
/// at a time: the best of five rounds, so a round slowed by anything else on the machine does not make
/// the budget easier.
fn raw_verifications_per_second(message: &[u8]) -> f64 {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let sig = key.sign(message);
    let public = key.verifying_key();
    let n = 10_000;
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                assert!(public.verify(black_box(message), black_box(&sig)).is_ok());
            }
            n as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// The bytes a health code's signature covers (the COSE Sig_structure).
fn signed_bytes(token: &str) -> anyhow::Result<Vec<u8>> {
    let cose = sentinel_credential::envelope::open(token).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sign1 = coset::CoseSign1::from_slice(&cose).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(sign1.tbs_data(b""))
}

/// Of the CPU time of all cores, the share the hypervisor gave to other guests (steal) since `before`, read
/// from `/proc/stat`: on a virtual machine whose host is busy a phase loses time that the anchor's best
/// round may not, and the ratio alone would not say why it fell. None where there is no `/proc/stat`.
fn steal_share(before: Option<(u64, u64)>) -> Option<f64> {
    let (steal0, total0) = before?;
    let (steal1, total1) = cpu_ticks_now()?;
    let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
    Some(steal1.saturating_sub(steal0) as f64 / total as f64)
}

/// (steal, total) ticks of the `cpu` line of `/proc/stat`.
fn cpu_steal_and_total(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already in user.
    let steal = *ticks.get(7)?;
    Some((steal, ticks.iter().take(8).sum()))
}

fn cpu_ticks_now() -> Option<(u64, u64)> {
    cpu_steal_and_total(&std::fs::read_to_string("/proc/stat").ok()?)
}

struct Target {
    base: String,
    device: String,
    codes: Vec<String>,
}

async fn setup(database_url: Option<String>) -> anyhow::Result<(Target, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.bootstrap_admin = Some(Secret::new("admin:bench-password-1"));
    config.database_url = database_url.map(Secret::new);
    let store = sentinel_server::open_store(&config).await?;
    let state = sentinel_server::build_state(&config, store).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(sentinel_server::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        let req = client.post(format!("{base}{path}")).bearer_auth(token).json(&body);
        async move { req.send().await?.error_for_status()?.json::<Value>().await }
    };
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "bench-password-1"}))
        .send()
        .await?
        .json::<Value>()
        .await?;
    let admin = login["token"].as_str().unwrap_or_default().to_owned();
    for (code, name) in [("320000", "江苏省"), ("320500", "苏州市"), ("320508", "姑苏区")] {
        post("/api/v1/regions", &admin, json!({"code": code, "name_zh": name})).await?;
    }
    let venue = post("/api/v1/venues", &admin, json!({"name": "基准商场", "category": "commercial_complex", "region_code": "320508", "address": "1号"})).await?;
    let device = post(
        &format!("/api/v1/venues/{}/devices", venue["id"]),
        &admin,
        json!({"name": "东门", "kind": "sentinel"}),
    )
    .await?;
    let today = Utc::now().date_naive();
    let mut codes = Vec::new();
    for i in 0..50u16 {
        let birth = today - Duration::days(365 * 30 + i64::from(i));
        let id = sentinel_core::ResidentIdNumber::from_parts("320508", birth, 100 + i, today)?;
        let person = post(
            "/api/v1/persons",
            &admin,
            json!({"id_number": id.as_str(), "name": "测试", "region_code": "320508"}),
        )
        .await?;
        let sampled = (Utc::now() - Duration::hours(10)).to_rfc3339();
        let reported = (Utc::now() - Duration::hours(5)).to_rfc3339();
        post("/api/v1/health/nat-results", &admin, json!({"person_id": person["id"], "sampled_at": sampled, "reported_at": reported, "result": "negative", "kind": "pcr"})).await?;
        // Vaccinated too, so every scan passes outright (an unvaccinated person is admitted with a reminder).
        for dose in 1..=2 {
            let v = json!({"person_id": person["id"], "dose": dose, "date": format!("2021-0{}-10", dose + 4), "product": "新冠病毒灭活疫苗", "manufacturer": "北京生物"});
            post("/api/v1/health/vaccinations", &admin, v).await?;
        }
        let code = post(&format!("/api/v1/persons/{}/health-code", person["id"]), &admin, json!({})).await?;
        codes.push(code["token"].as_str().unwrap_or_default().to_owned());
    }
    let target = Target { base, device: device["token"].as_str().unwrap_or_default().to_owned(), codes };
    Ok((target, dir))
}

/// The part of a scan's answer the benchmark checks.
#[derive(serde::Deserialize)]
struct ScanAnswer {
    outcome: String,
    visit_id: Option<i64>,
}

/// What each simulated device sends.
#[derive(Clone, Copy)]
enum Request {
    /// A scan of a green code with a fresh NAT: it must pass, so every one is a full decision.
    Scan,
    /// `GET /healthz`: the HTTP round trip alone, the floor the gate's latency is compared with.
    Health,
}

/// The simulated devices' connections, opened (each with one `GET /healthz`) before any phase, as a gate's
/// device holds its connection: no phase measures TCP handshakes.
async fn connect_devices(t: &Target, connections: usize) -> anyhow::Result<Vec<GateConnection>> {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut connection = GateConnection::new(&t.base, &t.device)?;
        tasks.push(tokio::spawn(async move {
            connection.send(Method::GET, "/healthz", Vec::new()).await?;
            Ok::<_, anyhow::Error>(connection)
        }));
    }
    let mut devices = Vec::new();
    for task in tasks {
        devices.push(task.await??);
    }
    Ok(devices)
}

/// Sends scans from the simulated `devices` for `seconds`, at most `rate` per second in all (None: flat
/// out). Returns (scans per second, sorted latencies in ms). Under a rate, each latency counts from the
/// moment the scan was due, so a stalled server cannot hide its queue (no coordinated omission).
async fn load(
    t: &Arc<Target>,
    devices: &mut Vec<GateConnection>,
    request: Request,
    seconds: u64,
    rate: Option<f64>,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let started = Instant::now();
    let deadline = started + std::time::Duration::from_secs(seconds);
    let connections = devices.len();
    let mut tasks = Vec::new();
    for (lane, mut connection) in devices.drain(..).enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let interval = rate.map(|r| std::time::Duration::from_secs_f64(connections as f64 / r));
            // Lanes start spread over one interval, not all at once.
            let mut due = Instant::now()
                + interval.map_or(std::time::Duration::ZERO, |i| i * lane as u32 / connections as u32);
            let mut i = 0usize;
            while Instant::now() < deadline {
                // Latency counts from when the scan was due when the lane is behind (the server's queue),
                // from when it was sent when the lane slept (the timer's lateness is not the server's).
                let now = Instant::now();
                let start = if interval.is_some() && due > now {
                    tokio::time::sleep_until(due.into()).await;
                    Instant::now()
                } else if interval.is_some() {
                    due
                } else {
                    now
                };
                match request {
                    Request::Scan => {
                        let body = json!({
                            "idempotency_key": format!("{lane}-{i}-{}", rand::random::<u64>()),
                            "health_code": t.codes[i % t.codes.len()],
                            "temperature_c": 36.5,
                            "mask": true,
                        });
                        let (status, answer) = connection.scan(body.to_string().into_bytes()).await?;
                        let parsed: Option<ScanAnswer> = serde_json::from_slice(&answer).ok();
                        if !status.is_success()
                            || !parsed.is_some_and(|a| a.outcome == "pass" && a.visit_id.is_some())
                        {
                            anyhow::bail!("scan did not pass: {status} {}", String::from_utf8_lossy(&answer));
                        }
                    }
                    Request::Health => {
                        let (status, answer) = connection.send(Method::GET, "/healthz", Vec::new()).await?;
                        if !status.is_success() {
                            anyhow::bail!("healthz: {status} {}", String::from_utf8_lossy(&answer));
                        }
                    }
                }
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
                if let Some(step) = interval {
                    due += step;
                }
                i += 1;
            }
            Ok::<_, anyhow::Error>((latencies, connection))
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let (latencies, connection) = task.await??;
        all.extend(latencies);
        devices.push(connection);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((rate, all))
}

pub fn run(json: bool, seconds: u64, connections: usize) -> anyhow::Result<()> {
    // The codes are issued once and live 120 s; three phases must fit in that.
    anyhow::ensure!((1..=35).contains(&seconds), "--seconds must be 1–35 (the codes live 2 minutes)");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut backends = vec![("sqlite", None)];
        if let Ok(url) = std::env::var("SENTINEL_BENCH_POSTGRES_URL") {
            backends.push(("postgres", Some(url)));
        } else {
            note!(
                "PostgreSQL not measured: set SENTINEL_BENCH_POSTGRES_URL (a server where the bench may create a scratch database)"
            );
        }
        // The anchor is measured beside each backend's flat-out phase, before and after it, and the best
        // of all is the one every figure is judged against: a machine that speeds up or slows down during
        // the run cannot make the budget easier.
        let mut raw: f64 = 0.0;
        let mut measured = Vec::new();
        for (name, admin_url) in backends {
            // PostgreSQL runs in a scratch database created for this run and dropped after it.
            let scratch = match &admin_url {
                Some(url) => Some(sentinel_store::testing::TestDatabase::create(url).await?),
                None => None,
            };
            let (target, _dir) = setup(scratch.as_ref().map(|d| d.url.clone())).await?;
            let message = signed_bytes(&target.codes[0])?;
            raw = raw.max(raw_verifications_per_second(&message));
            let target = Arc::new(target);
            let mut devices = connect_devices(&target, connections).await?;
            let ticks = cpu_ticks_now();
            let (throughput, _) = load(&target, &mut devices, Request::Scan, seconds, None).await?;
            let steal = steal_share(ticks).map_or("unknown".to_owned(), |s| format!("{:.1} %", s * 100.0));
            raw = raw.max(raw_verifications_per_second(&message));
            // Latency at half the throughput just measured (a gate line busy but not saturated), beside the
            // bare HTTP round trip at the same rate over the same connections.
            let offered = throughput / 2.0;
            let (_, latencies) = load(&target, &mut devices, Request::Scan, seconds, Some(offered)).await?;
            let (_, floor) = load(&target, &mut devices, Request::Health, seconds, Some(offered)).await?;
            note!(
                "{name}: {throughput:.0} scans/s flat out (CPU stolen by the hypervisor: {steal}); p50 {:.2} ms, p99 {:.2} ms at {offered:.0}/s offered \
                 (GET /healthz at that rate: p99 {:.2} ms); raw Ed25519 best so far {raw:.0}/s",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
                percentile(&floor, 0.99),
            );
            if let Some(db) = scratch {
                db.drop_database().await?;
            }
            measured.push((name, throughput, percentile(&latencies, 0.99), percentile(&floor, 0.99)));
        }
        let mut figures = Vec::new();
        for (name, throughput, p99, floor_p99) in measured {
            let (figure, p99_figure) = match name {
                "sqlite" => ("gate_scans_per_s_sqlite", "gate_p99_ms_at_half_sqlite"),
                _ => ("gate_scans_per_s_postgres", "gate_p99_ms_at_half_postgres"),
            };
            figures.push(Figure {
                figure,
                value: throughput,
                unit: "/s",
                anchor: "raw_ed25519_verify_per_s",
                anchor_value: raw,
                budget: "budget: ratio ≥ 0.50",
            });
            figures.push(Figure {
                figure: p99_figure,
                value: p99,
                unit: "ms",
                anchor: "healthz_p99_ms_same_rate",
                anchor_value: floor_p99,
                budget: "budget: value ≤ 10 ms",
            });
        }
        print(&figures, json)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_counter_of_the_cpu_line() {
        let stat = "cpu  100 5 20 800 10 1 4 60 30 0\ncpu0 50 2 10 400 5 0 2 30 15 0\nintr 1 2 3\n";
        assert_eq!(cpu_steal_and_total(stat), Some((60, 1000)));
        assert_eq!(cpu_steal_and_total("intr 1 2\n"), None);
        assert_eq!(cpu_steal_and_total("cpu  1 2 x 4 5 6 7 8\n"), None);
    }
}
