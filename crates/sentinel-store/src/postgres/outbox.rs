//! PostgreSQL implementation of the outbox contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::PostgresStore;
use crate::entry_rows::AlertRow;
use crate::outbox_rows::*;
use crate::{Delivery, OutboxStore, StoreError, Webhook};

type R<T> = Result<T, tokio_postgres::Error>;

fn webhook_row(r: &Row, at: usize) -> R<WebhookRow> {
    Ok(WebhookRow {
        id: r.try_get(at)?,
        url: r.try_get(at + 1)?,
        secret_enc: r.try_get(at + 2)?,
        format: r.try_get(at + 3)?,
        active: r.try_get(at + 4)?,
        created_at: r.try_get(at + 5)?,
        region_code: r.try_get(at + 6)?,
    })
}

fn delivery_row(r: &Row) -> R<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get(0)?,
        attempts: r.try_get(1)?,
        last_error: r.try_get(2)?,
        webhook: webhook_row(r, 3)?,
        alert: AlertRow {
            id: r.try_get(10)?,
            kind: r.try_get(11)?,
            visit_id: r.try_get(12)?,
            venue_id: r.try_get(13)?,
            person_id: r.try_get(14)?,
            region_code: r.try_get(15)?,
            status: r.try_get(16)?,
            created_at: r.try_get(17)?,
            acknowledged_at: r.try_get(18)?,
            acknowledged_by: r.try_get(19)?,
            resolved_at: r.try_get(20)?,
            resolved_by: r.try_get(21)?,
            note: r.try_get(22)?,
            level: r.try_get(23)?,
        },
        venue_name: r.try_get(24)?,
    })
}

#[async_trait]
impl OutboxStore for PostgresStore {
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
        let c = self.pool.get().await?;
        let (prefix, level) = (audience.as_ref().map(|a| a.0.clone()), audience.map(|a| a.1));
        let sql = format!(
            "INSERT INTO webhooks (url, secret_enc, format, created_by, created_at, region_code, region_prefix, audience_level)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {WEBHOOK_COLUMNS}"
        );
        let encrypted = self.cipher.encrypt(WEBHOOK_SECRET_FIELD, secret);
        let row = c
            .query_one(
                &sql,
                &[&url, &encrypted, &format, &by, &now.timestamp_millis(), &region, &prefix, &level],
            )
            .await?;
        webhook_row(&row, 0)?.decode(&self.cipher)
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c.query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"), &[]).await?;
        rows.iter().map(|r| webhook_row(r, 0)?.decode(&self.cipher)).collect()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let c = self.pool.get().await?;
        // Rows another dispatcher is leasing at this moment are skipped, not waited for.
        let sql = format!(
            "WITH claimed AS (
                 UPDATE outbox SET next_attempt_at = $3
                 WHERE id IN (SELECT id FROM outbox
                              WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
                              ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING id)
             {DELIVERY_SELECT} WHERE o.id IN (SELECT id FROM claimed) ORDER BY o.id"
        );
        let rows = c
            .query(&sql, &[&now.timestamp_millis(), &i64::from(limit), &lease_until.timestamp_millis()])
            .await?;
        rows.iter().map(|r| delivery_row(r)?.decode(&self.cipher)).collect()
    }

    async fn delivery_succeeded(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1 WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
            &[&id, &at.timestamp_millis()],
        )
        .await?;
        Ok(())
    }

    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        match retry_at {
            Some(next) => {
                c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                     WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
                    &[&id, &next.timestamp_millis(), &error],
                )
                .await?
            }
            None => {
                c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, dead_at = $2, last_error = $3
                     WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
                    &[&id, &at.timestamp_millis(), &error],
                )
                .await?
            }
        };
        Ok(())
    }

    async fn dead_letters(
        &self,
        within: Option<&sentinel_core::RegionCode>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (sql, params) = dead_letters_query(crate::query::Dialect::Postgres, within, limit);
        let params = super::boxed(params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &super::refs(&params)).await?;
        rows.iter().map(|r| delivery_row(r)?.decode(&self.cipher)).collect()
    }
}
