//! Outbound delivery of alerts: registered webhooks and the outbox rows written in the same transaction
//! as the alerts, so a restart loses nothing; the dispatcher marks each delivery done, retried or dead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Alert, StoreError};

/// A receiver of alerts. The secret signs the JSON format's body (HMAC-SHA256).
#[derive(Clone, PartialEq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub secret: String,
    /// `json`, `wecom` or `dingtalk`
    pub format: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// One alert owed to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub attempts: i64,
    pub webhook: Webhook,
    pub alert: Alert,
    pub venue_name: String,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn create_webhook(
        &self,
        url: &str,
        secret: &str,
        format: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError>;
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// Deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Delivery>, StoreError>;
    async fn delivery_succeeded(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A failed attempt: retry at `retry_at`, or with `None` give up (dead letter).
    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deliveries given up on, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<Delivery>, StoreError>;
}
