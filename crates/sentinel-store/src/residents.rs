//! The residents' own channel: reissuing a venue's place code (a new poster retires the old one; the
//! version is `Venue::place_code_version`), one-time
//! sign-in codes with their rate limit, resident sessions, family members (guardian → dependant) and
//! a resident's check-out.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::{PersonId, VenueId};

use crate::StoreError;

/// A signed-in resident's session: only the token's hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentSession {
    pub token_hash: Vec<u8>,
    pub person_id: PersonId,
    /// Echoed by every form the resident submits.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A family member a guardian may show codes for and check in (他人代登记).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependant {
    pub person_id: PersonId,
    /// As the guardian named it: 母亲, 儿子…
    pub relation: String,
    pub added_at: DateTime<Utc>,
}

/// How a one-time code was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpOutcome {
    Accepted,
    /// Wrong code: the attempt is counted.
    Wrong,
    /// No live code: none sent, expired, used, or too many wrong attempts.
    NoCode,
}

#[async_trait]
pub trait ResidentStore {
    /// Retires the venue's posters: the version goes up by one, and is returned.
    async fn reissue_place_code(&self, venue: VenueId) -> Result<u32, StoreError>;

    /// Records a code just sent to the person, unless `limit` codes were already sent since `since`
    /// (then `Conflict("otp_rate_limited")`); counting and inserting are one transaction.
    async fn create_otp(
        &self,
        person: PersonId,
        code_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<(), StoreError>;
    /// Compares with the person's newest code, if it is live: a match uses it up, a miss counts against it,
    /// and a code with `max_attempts` misses is dead. Older codes never count, even once the newest is used.
    async fn use_otp(
        &self,
        person: PersonId,
        code_hash: &[u8],
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<OtpOutcome, StoreError>;

    async fn create_resident_session(&self, session: &ResidentSession) -> Result<(), StoreError>;
    /// The session, if it exists and has not expired at `now`.
    async fn resident_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<ResidentSession>, StoreError>;
    async fn delete_resident_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    /// `Conflict("dependant_exists")` if already added.
    async fn add_dependant(
        &self,
        guardian: PersonId,
        dependant: PersonId,
        relation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// In the order they were added.
    async fn dependants(&self, guardian: PersonId) -> Result<Vec<Dependant>, StoreError>;
    /// `NotFound` if the person is not the guardian's dependant.
    async fn remove_dependant(&self, guardian: PersonId, dependant: PersonId) -> Result<(), StoreError>;

    /// Sets when the person left, on their own visit that has no check-out yet; `NotFound` otherwise.
    async fn check_out(&self, visit_id: i64, person: PersonId, at: DateTime<Utc>) -> Result<(), StoreError>;
}
