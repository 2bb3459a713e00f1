//! PostgreSQL implementation of the credential registry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::PersonId;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::health_rows::*;
use crate::{CredentialRecord, CredentialStore, Revocation, StoreError, StoredKey};

type R<T> = Result<T, tokio_postgres::Error>;

fn key_row(r: &Row) -> R<KeyRow> {
    Ok(KeyRow {
        kid: r.try_get(0)?,
        purpose: r.try_get(1)?,
        algorithm: r.try_get(2)?,
        public_key: r.try_get(3)?,
        secret_enc: r.try_get(4)?,
        not_before: r.try_get(5)?,
        not_after: r.try_get(6)?,
        retired_at: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

fn credential_row(r: &Row) -> R<CredentialRow> {
    Ok(CredentialRow {
        token_id: r.try_get(0)?,
        person_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        kid: r.try_get(3)?,
        issued_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        issued_by: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
    })
}

fn revocation_row(r: &Row) -> Result<Revocation, StoreError> {
    revocation(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)
}

#[async_trait]
impl CredentialStore for PostgresStore {
    async fn create_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO signing_keys (kid, purpose, algorithm, public_key, secret_enc, not_before, not_after, retired_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &k.kid,
                &k.purpose.code(),
                &k.algorithm,
                &k.public_key,
                &self.cipher.encrypt_bytes(KEY_SECRET_FIELD, &k.secret),
                &k.not_before.timestamp_millis(),
                &k.not_after.map(|t| t.timestamp_millis()),
                &k.retired_at.map(|t| t.timestamp_millis()),
                &k.created_at.timestamp_millis(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let c = self.pool.get().await?;
        let rows =
            c.query(&format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"), &[]).await?;
        rows.iter().map(|r| key_row(r)?.decode(&self.cipher)).collect()
    }

    async fn set_key_validity(
        &self,
        kid: &str,
        not_after: Option<DateTime<Utc>>,
        retired_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let changed = c
            .execute(
                "UPDATE signing_keys SET not_after = $2, retired_at = $3 WHERE kid = $1",
                &[&kid, &not_after.map(|t| t.timestamp_millis()), &retired_at.map(|t| t.timestamp_millis())],
            )
            .await?;
        if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn record_credential(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO credentials (token_id, person_id, kind, kid, issued_at, expires_at, issued_by, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &r.token_id,
                &r.person_id.0,
                &r.kind,
                &r.kid,
                &r.issued_at.timestamp_millis(),
                &r.expires_at.timestamp_millis(),
                &r.issued_by,
                &r.revoked_at.map(|t| t.timestamp_millis()),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_credential(&self, token_id: &[u8]) -> Result<Option<CredentialRecord>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE token_id = $1");
        let row = c.query_opt(&sql, &[&token_id]).await?;
        row.map(|r| credential_row(&r)?.decode()).transpose()
    }

    async fn credentials_of(&self, person: PersonId) -> Result<Vec<CredentialRecord>, StoreError> {
        let c = self.pool.get().await?;
        let sql =
            format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE person_id = $1 ORDER BY issued_at");
        let rows = c.query(&sql, &[&person.0]).await?;
        rows.iter().map(|r| credential_row(r)?.decode()).collect()
    }

    async fn revoke_credential(
        &self,
        token_id: &[u8],
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Revocation, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE token_id = $1",
                &[&token_id, &at.timestamp_millis()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        // Devices and nodes follow the log by sequence number: commit in sequence order (see health.rs).
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&super::LOG_ORDER_LOCK]).await?;
        tx.execute(
            "INSERT INTO revocations (token_id, revoked_at, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&token_id, &at.timestamp_millis(), &reason],
        )
        .await?;
        let row = tx
            .query_one(
                "SELECT seq, token_id, revoked_at, reason FROM revocations WHERE token_id = $1",
                &[&token_id],
            )
            .await?;
        tx.commit().await?;
        revocation_row(&row)
    }

    async fn revocations_since(&self, since: i64, limit: u32) -> Result<Vec<Revocation>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT seq, token_id, revoked_at, reason FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&since, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(revocation_row).collect()
    }
}
