//! SQLite implementation of the credential registry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use sentinel_core::PersonId;

use super::SqliteStore;
use crate::health_rows::*;
use crate::{CredentialRecord, CredentialStore, Revocation, StoreError, StoredKey};

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        kid: r.get(0)?,
        purpose: r.get(1)?,
        algorithm: r.get(2)?,
        public_key: r.get(3)?,
        secret_enc: r.get(4)?,
        not_before: r.get(5)?,
        not_after: r.get(6)?,
        retired_at: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn credential_row(r: &Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        token_id: r.get(0)?,
        person_id: r.get(1)?,
        kind: r.get(2)?,
        kid: r.get(3)?,
        issued_at: r.get(4)?,
        expires_at: r.get(5)?,
        issued_by: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

fn revocation_row(r: &Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn create_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        let k = k.clone();
        self.write(Box::new(move |c, cipher| {
            c.execute(
                "INSERT INTO signing_keys (kid, purpose, algorithm, public_key, secret_enc, not_before, not_after, retired_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    k.kid,
                    k.purpose.code(),
                    k.algorithm,
                    k.public_key,
                    cipher.encrypt_bytes(KEY_SECRET_FIELD, &k.secret),
                    k.not_before.timestamp_millis(),
                    k.not_after.map(|t| t.timestamp_millis()),
                    k.retired_at.map(|t| t.timestamp_millis()),
                    k.created_at.timestamp_millis()
                ],
            )?;
            Ok(())
        }))
        .await
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read(Box::new(|c, cipher| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([], key_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|k| k.decode(cipher))).collect()
        }))
        .await
    }

    async fn set_key_validity(
        &self,
        kid: &str,
        not_after: Option<DateTime<Utc>>,
        retired_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let kid = kid.to_owned();
        self.write(Box::new(move |c, _| {
            let changed = c.execute(
                "UPDATE signing_keys SET not_after = ?2, retired_at = ?3 WHERE kid = ?1",
                params![
                    kid,
                    not_after.map(|t| t.timestamp_millis()),
                    retired_at.map(|t| t.timestamp_millis())
                ],
            )?;
            if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        }))
        .await
    }

    async fn record_credential(&self, r: &CredentialRecord) -> Result<(), StoreError> {
        let r = r.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO credentials (token_id, person_id, kind, kid, issued_at, expires_at, issued_by, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.token_id,
                    r.person_id.0,
                    r.kind,
                    r.kid,
                    r.issued_at.timestamp_millis(),
                    r.expires_at.timestamp_millis(),
                    r.issued_by,
                    r.revoked_at.map(|t| t.timestamp_millis())
                ],
            )?;
            Ok(())
        }))
        .await
    }

    async fn get_credential(&self, token_id: &[u8]) -> Result<Option<CredentialRecord>, StoreError> {
        let id = token_id.to_vec();
        self.read(Box::new(move |c, _| {
            let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE token_id = ?1");
            c.query_row(&sql, [id], credential_row).optional()?.map(CredentialRow::decode).transpose()
        }))
        .await
    }

    async fn credentials_of(&self, person: PersonId) -> Result<Vec<CredentialRecord>, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE person_id = ?1 ORDER BY issued_at"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([person.0], credential_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(CredentialRow::decode)).collect()
        }))
        .await
    }

    async fn revoke_credential(
        &self,
        token_id: &[u8],
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Revocation, StoreError> {
        let (id, reason) = (token_id.to_vec(), reason.to_owned());
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?2) WHERE token_id = ?1",
                params![id, at.timestamp_millis()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(
                "INSERT INTO revocations (token_id, revoked_at, reason) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![id, at.timestamp_millis(), reason],
            )?;
            let row = tx.query_row("SELECT seq, token_id, revoked_at, reason FROM revocations WHERE token_id = ?1", [&id], revocation_row)?;
            tx.commit()?;
            revocation(row.0, row.1, row.2, row.3)
        }))
        .await
    }

    async fn revocations_since(&self, since: i64, limit: u32) -> Result<Vec<Revocation>, StoreError> {
        self.read(Box::new(move |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, token_id, revoked_at, reason FROM revocations WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![since, limit], revocation_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|(s, t, at, re)| revocation(s, t, at, re))).collect()
        }))
        .await
    }
}
