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
    /// `None`: every alert of the deployment. Otherwise the alerts of this region's subtree when they reach
    /// its level, as the live streams get them (`RegionLevel::hears_alert`): a grid's hook at once, its
    /// community's after one escalation, its street's after two, its district's (or city's) after three.
    pub region: Option<sentinel_core::RegionCode>,
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

/// A hook for `region` hears an alert of its subtree when the alert's audience rank (see
/// [`crate::query::alert_audience_rank`]) is its region's escalation rank; stored beside the subtree prefix.
pub fn webhook_audience(region: &sentinel_core::RegionCode) -> (String, i64) {
    (region.subtree_prefix().to_owned(), i64::from(region.level().escalation_rank()))
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn create_webhook(
        &self,
        url: &str,
        secret: &str,
        format: &str,
        region: Option<&sentinel_core::RegionCode>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError>;
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// Claims up to `limit` deliveries due at `now`, oldest first, for one dispatcher: each is held until
    /// `lease_until`, so dispatchers on several nodes never take the same one at once; one whose dispatcher
    /// died before recording the outcome is due again when its lease ends (delivered at least once).
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError>;
    async fn delivery_succeeded(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A failed attempt: retry at `retry_at`, or with `None` give up (dead letter).
    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deliveries given up on, newest first; with `within`, only those of hooks for regions in its subtree.
    async fn dead_letters(
        &self,
        within: Option<&sentinel_core::RegionCode>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
}
