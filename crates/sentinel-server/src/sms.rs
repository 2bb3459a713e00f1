//! Sending residents their one-time sign-in codes: to the city's SMS gateway (a JSON POST, the same kind
//! of gateway alerts reach through a webhook), or, where none is configured, to the server log only.

use sentinel_core::PhoneNumber;

pub struct SmsGateway {
    url: Option<String>,
    client: reqwest::Client,
}

impl SmsGateway {
    pub fn new(url: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { url, client }
    }

    /// Sends the code; without a gateway it is logged (with the masked phone) for the operator.
    pub async fn send_code(&self, phone: &PhoneNumber, code: &str, minutes: i64) -> Result<(), String> {
        let text = format!("【数字哨兵】您的登录验证码为 {code}，{minutes}分钟内有效。如非本人操作请忽略。");
        let Some(url) = &self.url else {
            tracing::info!(phone = %phone.masked(), code, "one-time sign-in code (no SMS gateway configured)");
            return Ok(());
        };
        let body = serde_json::json!({ "event": "otp_sms", "phone": phone.as_str(), "text": text });
        let response =
            self.client.post(url).json(&body).send().await.map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("SMS gateway answered {}", response.status()))
        }
    }
}
