//! The outbox dispatcher: delivers every alert to every webhook — generic JSON signed with HMAC-SHA256,
//! the WeCom and DingTalk group-robot message formats, or a short text for the city's SMS gateway (same
//! signature) — again when an alert is escalated, retrying with exponential backoff and moving
//! a delivery to the dead letters after the last attempt. Rows are written with the alerts, so a restart
//! resumes where it stopped; a delivery cut off between sending and marking is sent again, and receivers
//! dedupe by `X-Sentinel-Delivery`.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sentinel_core::RegionLevel;
use sentinel_store::Delivery;
use serde_json::json;
use sha2::Sha256;

use crate::state::AppState;

/// Attempts before a delivery is given up (dead letter).
pub const MAX_ATTEMPTS: i64 = 10;
/// How long one receiver may take to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const POLL: std::time::Duration = std::time::Duration::from_millis(250);
const BATCH: u32 = 20;

/// What an alert kind is called on a robot message.
pub fn kind_zh(kind: &str) -> &str {
    match kind {
        "code_red" => "红码",
        "code_yellow" => "黄码",
        "fever" => "体温异常",
        "risk_itinerary" => "14天中高风险地区旅居史",
        "nat_expired" => "核酸过期",
        "nat_missing" => "无核酸记录",
        "nat_positive" => "核酸阳性",
        "unvaccinated" => "未接种疫苗",
        "no_mask" => "未佩戴口罩",
        "face_mismatch" => "人证不符",
        other => other,
    }
}

/// `sha256=HEX` of the body under the webhook's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn backoff(attempts: i64) -> Duration {
    Duration::seconds((5i64 << attempts.clamp(0, 10)).min(3600))
}

/// Who an alert has been escalated to, in the message's words.
fn level_zh(a: &sentinel_store::Alert) -> &'static str {
    if a.level == 0 {
        return "";
    }
    match a.region_code.alert_audience(a.level).level() {
        RegionLevel::Grid | RegionLevel::Community => "（超时未处置，已升级至社区）",
        RegionLevel::Street => "（超时未处置，已升级至街道）",
        _ => "（超时未处置，已升级至区）",
    }
}

fn message(state: &AppState, d: &Delivery) -> String {
    let a = &d.alert;
    let person = a.person_id.map_or("未识别".to_owned(), |p| p.to_string());
    format!(
        "【数字哨兵告警】{}{}\n场所：{}\n网格：{}\n人员编号：{}\n时间：{}",
        kind_zh(&a.kind),
        level_zh(a),
        d.venue_name,
        a.region_code,
        person,
        state.local(a.created_at).format("%Y-%m-%d %H:%M:%S")
    )
}

/// One SMS (70 Chinese characters at most): no person number, which an SMS must not carry.
fn sms_text(state: &AppState, d: &Delivery) -> String {
    let text = format!(
        "【数字哨兵】{}{} {} {}，请及时处置",
        state.local(d.alert.created_at).format("%H:%M"),
        kind_zh(&d.alert.kind),
        d.venue_name,
        level_zh(&d.alert),
    );
    text.chars().take(70).collect()
}

/// POSTs a JSON body signed with the webhook's secret.
fn signed(
    client: &reqwest::Client,
    d: &Delivery,
    body: &serde_json::Value,
) -> Result<reqwest::RequestBuilder, String> {
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    Ok(client
        .post(&d.webhook.url)
        .header("content-type", "application/json")
        .header("x-sentinel-signature", signature(&d.webhook.secret, &body))
        .body(body))
}

async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    d: &Delivery,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let a = &d.alert;
    let request = match d.webhook.format.as_str() {
        "wecom" => client
            .post(&d.webhook.url)
            .json(&json!({"msgtype": "markdown", "markdown": {"content": message(state, d)}})),
        "dingtalk" => {
            let mut req = client
                .post(&d.webhook.url)
                .json(&json!({"msgtype": "markdown", "markdown": {"title": "数字哨兵告警", "text": message(state, d)}}));
            if !d.webhook.secret.is_empty() {
                // DingTalk's robot signature: HMAC-SHA256 over "timestamp\nsecret", base64, in the query.
                let ts = now.timestamp_millis().to_string();
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(d.webhook.secret.as_bytes())
                    .expect("any key length");
                mac.update(format!("{ts}\n{}", d.webhook.secret).as_bytes());
                let sign = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                req = req.query(&[("timestamp", ts), ("sign", sign)]);
            }
            req
        }
        "sms" => signed(
            client,
            d,
            &json!({
                "event": "alert_sms",
                "delivery_id": d.id,
                "alert_id": a.id,
                "region_code": a.region_code.to_string(),
                "level": a.level,
                "audience_region": a.region_code.alert_audience(a.level).to_string(),
                "text": sms_text(state, d),
            }),
        )?,
        _ => signed(
            client,
            d,
            &json!({
                "event": "alert",
                "delivery_id": d.id,
                "alert": {
                    "id": a.id,
                    "kind": a.kind,
                    "kind_zh": kind_zh(&a.kind),
                    "venue_id": a.venue_id.0,
                    "venue_name": d.venue_name,
                    "person_id": a.person_id.map(|p| p.0),
                    "visit_id": a.visit_id,
                    "region_code": a.region_code.to_string(),
                    "level": a.level,
                    "audience_region": a.region_code.alert_audience(a.level).to_string(),
                    "created_at": state.local(a.created_at),
                }
            }),
        )?,
    };
    let response = request
        .header("x-sentinel-delivery", d.id.to_string())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", response.status())) }
}

/// Delivers what is due, once; returns how many deliveries were attempted.
pub async fn dispatch_due(state: &AppState, client: &reqwest::Client) -> usize {
    let now = state.now();
    // The batch is delivered at once, so the lease covers one receiver's timeout and the marking after it;
    // kept short because it is also how long a delivery claimed by a node that was killed waits for the
    // next attempt (a restart in the middle loses nothing, but resends only once the lease runs out).
    let lease_until = now + Duration::from_std(TIMEOUT * 2).unwrap_or_else(|_| Duration::seconds(20));
    let due = match state.store.claim_deliveries(now, BATCH, lease_until).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading the outbox failed");
            return 0;
        }
    };
    // One slow or dead receiver must not hold up the others' alerts: the batch goes out together.
    futures_util::future::join_all(due.iter().map(|d| async move {
        let result = match deliver(state, client, d, now).await {
            Ok(()) => state.store.delivery_succeeded(d.id, state.now()).await,
            Err(error) => {
                let attempts = d.attempts + 1;
                let retry = (attempts < MAX_ATTEMPTS).then(|| state.now() + backoff(attempts));
                tracing::warn!(delivery = d.id, attempts, %error, dead = retry.is_none(), "webhook delivery failed");
                state.store.delivery_failed(d.id, &error, retry, state.now()).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "recording a delivery failed");
        }
    }))
    .await;
    due.len()
}

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; alerts stay in the outbox");
            return;
        }
    };
    loop {
        if dispatch_due(&state, &client).await == 0 {
            tokio::time::sleep(POLL).await;
        }
    }
}
