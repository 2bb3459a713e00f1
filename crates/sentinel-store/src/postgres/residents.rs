//! PostgreSQL implementation of the residents' channel.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::{PersonId, VenueId};

use super::PostgresStore;
use crate::query::from_millis;
use crate::{Dependant, OtpOutcome, ResidentSession, ResidentStore, StoreError};

#[async_trait]
impl ResidentStore for PostgresStore {
    async fn reissue_place_code(&self, venue: VenueId) -> Result<u32, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                "UPDATE venues SET place_code_version = place_code_version + 1
                 WHERE id = $1 AND deleted_at IS NULL RETURNING place_code_version",
                &[&venue.0],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get::<_, i64>(0)? as u32)
    }

    async fn create_otp(
        &self,
        person: PersonId,
        code_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The person's row is the lock two concurrent requests queue on, so both cannot pass the count.
        tx.query_opt("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", &[&person.0])
            .await?
            .ok_or(StoreError::NotFound)?;
        let sent: i64 = tx
            .query_one(
                "SELECT count(*) FROM resident_otps WHERE person_id = $1 AND created_at >= $2",
                &[&person.0, &since.timestamp_millis()],
            )
            .await?
            .try_get(0)?;
        if sent >= i64::from(limit) {
            return Err(StoreError::Conflict("otp_rate_limited".into()));
        }
        tx.execute(
            "INSERT INTO resident_otps (person_id, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&person.0, &code_hash, &now.timestamp_millis(), &expires_at.timestamp_millis()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_otp(
        &self,
        person: PersonId,
        code_hash: &[u8],
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<OtpOutcome, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The newest code only: once it is used, expired or dead, older codes never come back.
        let newest = tx
            .query_opt(
                "SELECT id, code_hash, expires_at, attempts, used_at IS NOT NULL FROM resident_otps
                 WHERE person_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
                &[&person.0],
            )
            .await?;
        let live = match newest {
            Some(row) => {
                let (expires, attempts, used): (i64, i64, bool) =
                    (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
                (!used && expires > now.timestamp_millis() && attempts < i64::from(max_attempts))
                    .then_some(row)
            }
            None => None,
        };
        let outcome = match live {
            None => OtpOutcome::NoCode,
            Some(row) => {
                let id: i64 = row.try_get(0)?;
                let stored: Vec<u8> = row.try_get(1)?;
                if stored == code_hash {
                    tx.execute(
                        "UPDATE resident_otps SET used_at = $2 WHERE id = $1",
                        &[&id, &now.timestamp_millis()],
                    )
                    .await?;
                    OtpOutcome::Accepted
                } else {
                    tx.execute("UPDATE resident_otps SET attempts = attempts + 1 WHERE id = $1", &[&id])
                        .await?;
                    OtpOutcome::Wrong
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn create_resident_session(&self, s: &ResidentSession) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO resident_sessions (token_hash, person_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &s.token_hash,
                &s.person_id.0,
                &s.csrf_token,
                &s.created_at.timestamp_millis(),
                &s.expires_at.timestamp_millis(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn resident_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<ResidentSession>, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT person_id, csrf_token, created_at, expires_at FROM resident_sessions
                 WHERE token_hash = $1 AND expires_at > $2",
                &[&token_hash, &now.timestamp_millis()],
            )
            .await?;
        row.map(|r| {
            Ok(ResidentSession {
                token_hash: token_hash.to_vec(),
                person_id: PersonId(r.try_get(0)?),
                csrf_token: r.try_get(1)?,
                created_at: from_millis(r.try_get(2)?)?,
                expires_at: from_millis(r.try_get(3)?)?,
            })
        })
        .transpose()
    }

    async fn delete_resident_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute("DELETE FROM resident_sessions WHERE token_hash = $1", &[&token_hash]).await?;
        Ok(())
    }

    async fn add_dependant(
        &self,
        guardian: PersonId,
        dependant: PersonId,
        relation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let added = c
            .execute(
                "INSERT INTO guardianships (guardian_id, dependant_id, relation, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&guardian.0, &dependant.0, &relation, &now.timestamp_millis()],
            )
            .await?;
        if added == 0 { Err(StoreError::Conflict("dependant_exists".into())) } else { Ok(()) }
    }

    async fn dependants(&self, guardian: PersonId) -> Result<Vec<Dependant>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT dependant_id, relation, created_at FROM guardianships WHERE guardian_id = $1
                 ORDER BY created_at, dependant_id",
                &[&guardian.0],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Dependant {
                    person_id: PersonId(r.try_get(0)?),
                    relation: r.try_get(1)?,
                    added_at: from_millis(r.try_get(2)?)?,
                })
            })
            .collect()
    }

    async fn remove_dependant(&self, guardian: PersonId, dependant: PersonId) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "DELETE FROM guardianships WHERE guardian_id = $1 AND dependant_id = $2",
                &[&guardian.0, &dependant.0],
            )
            .await?;
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn check_out(&self, visit_id: i64, person: PersonId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "UPDATE visits SET left_at = $3
                 WHERE id = $1 AND person_id = $2 AND left_at IS NULL AND entered_at <= $3",
                &[&visit_id, &person.0, &at.timestamp_millis()],
            )
            .await?;
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
