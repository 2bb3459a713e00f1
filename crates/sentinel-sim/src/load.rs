//! The device load generator: registers simulated gate devices at a running server's venues, issues health
//! codes for its residents (and paper codes, and reads ID cards, for some of them), then scans from every
//! device at once with a realistic mix of credentials and readings, and reports throughput, latency
//! percentiles, the channels used and the outcomes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub base_url: String,
    pub username: String,
    pub password: String,
    pub devices: usize,
    pub persons: usize,
    pub duration: Duration,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Server(String),
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub scans: usize,
    pub errors: usize,
    pub seconds: f64,
    /// Sorted latencies in milliseconds.
    pub latencies_ms: Vec<f64>,
    pub outcomes: BTreeMap<String, usize>,
    pub reasons: BTreeMap<String, usize>,
    /// What the simulated devices sent: `health_code`, `paper_code`, `id_card` or `garbled_code`.
    pub channels: BTreeMap<String, usize>,
}

impl LoadReport {
    pub fn per_second(&self) -> f64 {
        self.scans as f64 / self.seconds.max(1e-9)
    }

    pub fn percentile(&self, q: f64) -> f64 {
        percentile(&self.latencies_ms, q)
    }
}

/// The `q` quantile (0–1) of sorted values, the nearest rank; NaN when there are none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
    }
}

/// The part of a scan's answer the report counts.
#[derive(serde::Deserialize)]
struct ScanAnswer {
    outcome: String,
    reasons: Vec<String>,
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, LoadError> {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status();
        let value: Value = res.json().await?;
        if !status.is_success() {
            return Err(LoadError::Server(format!("{path}: {status} {value}")));
        }
        Ok(value)
    }
}

async fn health_codes(api: &Api, persons: &[i64]) -> Result<Vec<String>, LoadError> {
    let mut codes = Vec::with_capacity(persons.len());
    for p in persons {
        let code = api
            .call(reqwest::Method::POST, &format!("/api/v1/persons/{p}/health-code"), Some(json!({})))
            .await?;
        codes.push(code["token"].as_str().unwrap_or_default().to_owned());
    }
    Ok(codes)
}

/// What a resident may show at the gate besides the phone's code: some carry a printed 24-hour paper code
/// (no smartphone), some are read by ID card (the elderly, children); the rest only the phone.
#[derive(Clone, Default)]
struct Alternatives {
    paper_code: Option<String>,
    /// (ID number, name) as the card reader reads them.
    id_card: Option<(String, String)>,
}

/// One resident in eight also shows an ID card and another one in eight a paper code. The card's number
/// and name are read unmasked with a stated purpose (audited, as every such read is).
async fn alternatives(api: &Api, persons: &[i64]) -> Result<Vec<Alternatives>, LoadError> {
    let mut all = Vec::with_capacity(persons.len());
    for (i, p) in persons.iter().enumerate() {
        let mut alt = Alternatives::default();
        match i % 8 {
            3 => {
                let person = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/api/v1/persons/{p}?purpose=load-test-id-card"),
                        None,
                    )
                    .await?;
                let field = |f: &str| person[f].as_str().unwrap_or_default().to_owned();
                alt.id_card = Some((field("id_number"), field("name")));
            }
            5 => {
                let paper = api
                    .call(reqwest::Method::POST, &format!("/api/v1/persons/{p}/paper-code"), Some(json!({})))
                    .await?;
                alt.paper_code = paper["token"].as_str().map(str::to_owned);
            }
            _ => {}
        }
        all.push(alt);
    }
    Ok(all)
}

/// The credential part of one scan's body, and its channel's name for the report.
fn credential(rng: &mut impl Rng, code: &str, alt: &Alternatives) -> (Value, &'static str) {
    if rng.gen_ratio(1, 200) {
        // A code damaged on a cracked screen or forged: the gate denies it as malformed.
        return (json!({"health_code": format!("SN1:{:016x}", rng.r#gen::<u64>())}), "garbled_code");
    }
    match (&alt.id_card, &alt.paper_code) {
        (Some((id_number, name)), _) if rng.gen_bool(0.5) => {
            // Now and then the camera's face does not match the card's photo.
            let face_match =
                if rng.gen_ratio(1, 30) { rng.gen_range(0.2..0.5) } else { rng.gen_range(0.8..0.99) };
            let card = json!({"id_number": id_number, "name": name, "face_match": (face_match * 100.0f64).round() / 100.0});
            (json!({"id_card": card}), "id_card")
        }
        (_, Some(paper)) if rng.gen_bool(0.7) => (json!({"paper_code": paper}), "paper_code"),
        _ => (json!({"health_code": code}), "health_code"),
    }
}

/// Runs the load; `progress` is told each second how many scans are done.
pub async fn run(opts: &LoadOptions, progress: &(dyn Fn(usize) + Sync)) -> Result<LoadReport, LoadError> {
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", opts.base_url))
        .json(&json!({"username": opts.username, "password": opts.password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| LoadError::Server(format!("login failed: {login}")))?
        .to_owned();
    let api = Api { client: client.clone(), base: opts.base_url.clone(), token };
    let venues = api
        .call(reqwest::Method::GET, &format!("/api/v1/venues?limit={}", opts.devices.max(1)), None)
        .await?;
    let mut device_tokens = Vec::new();
    for v in venues["items"].as_array().into_iter().flatten().take(opts.devices) {
        let d = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/venues/{}/devices", v["id"]),
                Some(json!({"name": "模拟设备", "kind": "sentinel"})),
            )
            .await?;
        device_tokens.push(d["token"].as_str().unwrap_or_default().to_owned());
    }
    if device_tokens.is_empty() {
        return Err(LoadError::Server("no venues to put devices at".into()));
    }
    let persons = api
        .call(reqwest::Method::GET, &format!("/api/v1/persons?limit={}", opts.persons.clamp(1, 500)), None)
        .await?;
    let ids: Vec<i64> =
        persons["items"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_i64()).collect();
    if ids.is_empty() {
        return Err(LoadError::Server("no residents to scan".into()));
    }
    let codes = std::sync::Arc::new(tokio::sync::RwLock::new(health_codes(&api, &ids).await?));
    let alternatives = std::sync::Arc::new(alternatives(&api, &ids).await?);
    let started = Instant::now();
    let deadline = started + opts.duration;
    // Dynamic codes live 120 s: renew them every 60 s while the load runs.
    let renewer = {
        let codes = codes.clone();
        let ids = ids.clone();
        let api = Api { client: client.clone(), base: api.base.clone(), token: api.token.clone() };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                if let Ok(fresh) = health_codes(&api, &ids).await {
                    *codes.write().await = fresh;
                }
            }
        })
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (lane, device) in device_tokens.into_iter().enumerate() {
        let (codes, alternatives, done) = (codes.clone(), alternatives.clone(), done.clone());
        let mut connection = crate::gate_connection::GateConnection::new(&opts.base_url, &device)?;
        let seed = opts.seed.wrapping_add(lane as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut report = LoadReport::default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let who = rng.gen_range(0..alternatives.len());
                let code = codes.read().await[who].clone();
                let (mut body, channel) = credential(&mut rng, &code, &alternatives[who]);
                *report.channels.entry(channel.to_owned()).or_default() += 1;
                // Mostly healthy readings; now and then a fever or a missing mask.
                let temperature =
                    if rng.gen_ratio(1, 100) { rng.gen_range(37.4..39.0) } else { rng.gen_range(36.0..37.1) };
                body["idempotency_key"] = json!(format!("sim-{seed}-{i}"));
                body["temperature_c"] = json!((temperature * 10.0f64).round() / 10.0);
                body["mask"] = json!(!rng.gen_ratio(1, 20));
                i += 1;
                let sent = Instant::now();
                let answer = match connection.scan(body.to_string().into_bytes()).await {
                    Ok((status, bytes)) if status.is_success() => {
                        serde_json::from_slice::<ScanAnswer>(&bytes).ok()
                    }
                    _ => None,
                };
                match answer {
                    Some(a) => {
                        report.latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                        report.scans += 1;
                        *report.outcomes.entry(a.outcome).or_default() += 1;
                        for r in a.reasons {
                            *report.reasons.entry(r).or_default() += 1;
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    None => report.errors += 1,
                }
            }
            report
        }));
    }
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(done.load(std::sync::atomic::Ordering::Relaxed));
    }
    let mut total = LoadReport::default();
    for t in tasks {
        let r = t.await.map_err(|e| LoadError::Server(e.to_string()))?;
        total.scans += r.scans;
        total.errors += r.errors;
        total.latencies_ms.extend(r.latencies_ms);
        for (into, from) in [
            (&mut total.outcomes, r.outcomes),
            (&mut total.reasons, r.reasons),
            (&mut total.channels, r.channels),
        ] {
            for (k, v) in from {
                *into.entry(k).or_default() += v;
            }
        }
    }
    renewer.abort();
    total.seconds = started.elapsed().as_secs_f64();
    total.latencies_ms.sort_by(f64::total_cmp);
    Ok(total)
}
