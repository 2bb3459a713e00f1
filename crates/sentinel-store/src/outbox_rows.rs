//! The outbox query shared by both backends.

use crate::entry_rows::AlertRow;
use crate::query::{Dialect, SqlValue, Where, from_millis};
use crate::{Delivery, PersonalDataCipher, StoreError, Webhook};

/// The associated data of encrypted webhook secrets.
pub const WEBHOOK_SECRET_FIELD: &str = "webhook.secret";

pub const DELIVERY_SELECT: &str = "SELECT o.id, o.attempts, o.last_error, w.id, w.url, w.secret_enc, w.format, w.active, \
    w.created_at, w.region_code, a.id, a.kind, a.visit_id, a.venue_id, a.person_id, a.region_code, a.status, a.created_at, \
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.note, a.level, v.name \
    FROM outbox o JOIN webhooks w ON w.id = o.webhook_id JOIN alerts a ON a.id = o.alert_id JOIN venues v ON v.id = a.venue_id";

/// Deliveries given up on, newest first; with `within`, only those of hooks for regions in its subtree.
/// Returns the SQL and its parameters, for either backend.
pub fn dead_letters_query(
    dialect: Dialect,
    within: Option<&sentinel_core::RegionCode>,
    limit: u32,
) -> (String, Vec<SqlValue>) {
    let mut w = Where::new(dialect);
    w.push("o.dead_at IS NOT NULL".into());
    if let Some(region) = within {
        w.region_subtree("w.region_code", region);
    }
    (format!("{DELIVERY_SELECT} {} ORDER BY o.id DESC LIMIT {limit}", w.sql()), w.params)
}

pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub secret_enc: Vec<u8>,
    pub format: String,
    pub active: bool,
    pub created_at: i64,
    pub region_code: Option<String>,
}

/// The webhook columns in the order the row readers take them.
pub const WEBHOOK_COLUMNS: &str = "id, url, secret_enc, format, active, created_at, region_code";

impl WebhookRow {
    pub fn decode(self, cipher: &PersonalDataCipher) -> Result<Webhook, StoreError> {
        Ok(Webhook {
            id: self.id,
            url: self.url,
            secret: cipher.decrypt(WEBHOOK_SECRET_FIELD, &self.secret_enc)?,
            format: self.format,
            active: self.active,
            created_at: from_millis(self.created_at)?,
            region: self
                .region_code
                .map(|r| {
                    sentinel_core::RegionCode::parse(&r)
                        .map_err(|_| StoreError::Corrupt(format!("webhook region {r}")))
                })
                .transpose()?,
        })
    }
}

pub struct DeliveryRow {
    pub id: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub webhook: WebhookRow,
    pub alert: AlertRow,
    pub venue_name: String,
}

impl DeliveryRow {
    pub fn decode(self, cipher: &PersonalDataCipher) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            id: self.id,
            attempts: self.attempts,
            webhook: self.webhook.decode(cipher)?,
            alert: self.alert.decode()?,
            venue_name: self.venue_name,
            last_error: self.last_error,
        })
    }
}
