//! SQLite implementation of the outbox contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::SqliteStore;
use crate::entry_rows::AlertRow;
use crate::outbox_rows::*;
use crate::{Delivery, OutboxStore, StoreError, Webhook};

fn webhook_row(r: &Row<'_>, at: usize) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(at)?,
        url: r.get(at + 1)?,
        secret_enc: r.get(at + 2)?,
        format: r.get(at + 3)?,
        active: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
        region_code: r.get(at + 6)?,
    })
}

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        attempts: r.get(1)?,
        last_error: r.get(2)?,
        webhook: webhook_row(r, 3)?,
        alert: AlertRow {
            id: r.get(10)?,
            kind: r.get(11)?,
            visit_id: r.get(12)?,
            venue_id: r.get(13)?,
            person_id: r.get(14)?,
            region_code: r.get(15)?,
            status: r.get(16)?,
            created_at: r.get(17)?,
            acknowledged_at: r.get(18)?,
            acknowledged_by: r.get(19)?,
            resolved_at: r.get(20)?,
            resolved_by: r.get(21)?,
            note: r.get(22)?,
            level: r.get(23)?,
        },
        venue_name: r.get(24)?,
    })
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn create_webhook(
        &self,
        url: &str,
        secret: &str,
        format: &str,
        region: Option<&sentinel_core::RegionCode>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let audience = region.map(crate::webhook_audience);
        let region = region.map(|r| r.as_str().to_owned());
        let (url, secret, format, by) = (url.to_owned(), secret.to_owned(), format.to_owned(), by.to_owned());
        self.write(Box::new(move |c, cipher| {
            let (prefix, level) = (audience.as_ref().map(|a| a.0.clone()), audience.map(|a| a.1));
            c.execute(
                "INSERT INTO webhooks (url, secret_enc, format, created_by, created_at, region_code, region_prefix, audience_level)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![url, cipher.encrypt(WEBHOOK_SECRET_FIELD, &secret), format, by, now.timestamp_millis(), region, prefix, level],
            )?;
            let id = c.last_insert_rowid();
            c.query_row(
                &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"),
                [id],
                |r| webhook_row(r, 0),
            )?
            .decode(cipher)
        }))
        .await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.read(Box::new(|c, cipher| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"))?;
            let rows = stmt.query_map([], |r| webhook_row(r, 0))?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|w| w.decode(cipher))).collect()
        }))
        .await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        // The one writer connection makes reading and leasing one step for every process on this file.
        self.write(Box::new(move |c, cipher| {
            // Immediate: the write lock is taken before reading, so another process on this file cannot
            // claim the same rows in between.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due: Vec<Delivery> = {
                let sql = format!(
                    "{DELIVERY_SELECT} WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.next_attempt_at <= ?1
                     ORDER BY o.id LIMIT ?2"
                );
                let mut stmt = tx.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![now.timestamp_millis(), limit], delivery_row)?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|d| d.decode(cipher))).collect::<Result<_, _>>()?
            };
            {
                let mut lease = tx.prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1")?;
                for d in &due {
                    lease.execute(params![d.id, lease_until.timestamp_millis()])?;
                }
            }
            tx.commit()?;
            Ok(due)
        }))
        .await
    }

    async fn delivery_succeeded(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| {
            c.execute(
                "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1 WHERE id = ?1 AND delivered_at IS NULL AND dead_at IS NULL",
                params![id, at.timestamp_millis()],
            )?;
            Ok(())
        }))
        .await
    }

    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write(Box::new(move |c, _| {
            match retry_at {
                Some(next) => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                     WHERE id = ?1 AND delivered_at IS NULL AND dead_at IS NULL",
                    params![id, next.timestamp_millis(), error],
                )?,
                None => c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, dead_at = ?2, last_error = ?3
                     WHERE id = ?1 AND delivered_at IS NULL AND dead_at IS NULL",
                    params![id, at.timestamp_millis(), error],
                )?,
            };
            Ok(())
        }))
        .await
    }

    async fn dead_letters(
        &self,
        within: Option<&sentinel_core::RegionCode>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (sql, params) = dead_letters_query(crate::query::Dialect::Sqlite, within, limit);
        self.read(Box::new(move |c, cipher| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(super::values(params)), delivery_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|d| d.decode(cipher))).collect()
        }))
        .await
    }
}
