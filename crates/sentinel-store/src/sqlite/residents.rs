//! SQLite implementation of the residents' channel.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use sentinel_core::{PersonId, VenueId};

use super::SqliteStore;
use crate::query::from_millis;
use crate::{Dependant, OtpOutcome, ResidentSession, ResidentStore, StoreError};

#[async_trait]
impl ResidentStore for SqliteStore {
    async fn reissue_place_code(&self, venue: VenueId) -> Result<u32, StoreError> {
        self.write(Box::new(move |c, _| {
            let v: i64 = c
                .query_row(
                    "UPDATE venues SET place_code_version = place_code_version + 1
                     WHERE id = ?1 AND deleted_at IS NULL RETURNING place_code_version",
                    [venue.0],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            Ok(v as u32)
        }))
        .await
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
        let hash = code_hash.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let sent: i64 = tx.query_row(
                "SELECT count(*) FROM resident_otps WHERE person_id = ?1 AND created_at >= ?2",
                params![person.0, since.timestamp_millis()],
                |r| r.get(0),
            )?;
            if sent >= i64::from(limit) {
                return Err(StoreError::Conflict("otp_rate_limited".into()));
            }
            tx.execute(
                "INSERT INTO resident_otps (person_id, code_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![person.0, hash, now.timestamp_millis(), expires_at.timestamp_millis()],
            )?;
            tx.commit()?;
            Ok(())
        }))
        .await
    }

    async fn use_otp(
        &self,
        person: PersonId,
        code_hash: &[u8],
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<OtpOutcome, StoreError> {
        let hash = code_hash.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            // The newest code only: once it is used, expired or dead, older codes never come back.
            let newest: Option<(i64, Vec<u8>, i64, i64, bool)> = tx
                .query_row(
                    "SELECT id, code_hash, expires_at, attempts, used_at IS NOT NULL FROM resident_otps
                     WHERE person_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
                    params![person.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            let live = newest.filter(|(_, _, expires, attempts, used)| {
                !used && *expires > now.timestamp_millis() && *attempts < i64::from(max_attempts)
            });
            let outcome = match live.map(|(id, stored, ..)| (id, stored)) {
                None => OtpOutcome::NoCode,
                Some((id, stored)) if stored == hash => {
                    tx.execute(
                        "UPDATE resident_otps SET used_at = ?2 WHERE id = ?1",
                        params![id, now.timestamp_millis()],
                    )?;
                    OtpOutcome::Accepted
                }
                Some((id, _)) => {
                    tx.execute("UPDATE resident_otps SET attempts = attempts + 1 WHERE id = ?1", [id])?;
                    OtpOutcome::Wrong
                }
            };
            tx.commit()?;
            Ok(outcome)
        }))
        .await
    }

    async fn create_resident_session(&self, s: &ResidentSession) -> Result<(), StoreError> {
        let s = s.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO resident_sessions (token_hash, person_id, csrf_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.token_hash,
                    s.person_id.0,
                    s.csrf_token,
                    s.created_at.timestamp_millis(),
                    s.expires_at.timestamp_millis()
                ],
            )?;
            Ok(())
        }))
        .await
    }

    async fn resident_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<ResidentSession>, StoreError> {
        let hash = token_hash.to_vec();
        self.read(Box::new(move |c, _| {
            let row = c
                .query_row(
                    "SELECT person_id, csrf_token, created_at, expires_at FROM resident_sessions
                     WHERE token_hash = ?1 AND expires_at > ?2",
                    params![hash, now.timestamp_millis()],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(person, csrf_token, created, expires)| {
                Ok(ResidentSession {
                    token_hash: hash.clone(),
                    person_id: PersonId(person),
                    csrf_token,
                    created_at: from_millis(created)?,
                    expires_at: from_millis(expires)?,
                })
            })
            .transpose()
        }))
        .await
    }

    async fn delete_resident_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let hash = token_hash.to_vec();
        self.write(Box::new(move |c, _| {
            c.execute("DELETE FROM resident_sessions WHERE token_hash = ?1", [hash])?;
            Ok(())
        }))
        .await
    }

    async fn add_dependant(
        &self,
        guardian: PersonId,
        dependant: PersonId,
        relation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let relation = relation.to_owned();
        self.write(Box::new(move |c, _| {
            let added = c.execute(
                "INSERT INTO guardianships (guardian_id, dependant_id, relation, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![guardian.0, dependant.0, relation, now.timestamp_millis()],
            )?;
            if added == 0 { Err(StoreError::Conflict("dependant_exists".into())) } else { Ok(()) }
        }))
        .await
    }

    async fn dependants(&self, guardian: PersonId) -> Result<Vec<Dependant>, StoreError> {
        self.read(Box::new(move |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT dependant_id, relation, created_at FROM guardianships WHERE guardian_id = ?1
                 ORDER BY created_at, dependant_id",
            )?;
            let rows =
                stmt.query_map([guardian.0], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get::<_, i64>(2)?)))?;
            rows.map(|row| {
                let (id, relation, at) = row?;
                Ok(Dependant { person_id: PersonId(id), relation, added_at: from_millis(at)? })
            })
            .collect()
        }))
        .await
    }

    async fn remove_dependant(&self, guardian: PersonId, dependant: PersonId) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| {
            let n = c.execute(
                "DELETE FROM guardianships WHERE guardian_id = ?1 AND dependant_id = ?2",
                params![guardian.0, dependant.0],
            )?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        }))
        .await
    }

    async fn check_out(&self, visit_id: i64, person: PersonId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| {
            let n = c.execute(
                "UPDATE visits SET left_at = ?3 WHERE id = ?1 AND person_id = ?2 AND left_at IS NULL AND entered_at <= ?3",
                params![visit_id, person.0, at.timestamp_millis()],
            )?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        }))
        .await
    }
}
