//! The credential registry's storage contract: signing keys (secrets encrypted with the data key),
//! issued paper codes, and the revocation log devices sync from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::PersonId;

use crate::StoreError;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signs health codes; rotated.
    Issuer,
    /// Signs the trust list; devices pin it.
    Anchor,
    /// Signs place codes: posters hang for months, so this key is not rotated with issuer keys.
    Place,
}

impl KeyPurpose {
    pub fn code(self) -> &'static str {
        match self {
            KeyPurpose::Issuer => "issuer",
            KeyPurpose::Anchor => "anchor",
            KeyPurpose::Place => "place",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "issuer" => Some(KeyPurpose::Issuer),
            "anchor" => Some(KeyPurpose::Anchor),
            "place" => Some(KeyPurpose::Place),
            _ => None,
        }
    }
}

/// A signing key as stored. The secret arrives and leaves plain; the store encrypts it at rest.
#[derive(Clone, PartialEq)]
pub struct StoredKey {
    /// Hex key id.
    pub kid: String,
    pub purpose: KeyPurpose,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub secret: Vec<u8>,
    pub not_before: DateTime<Utc>,
    /// End of the period in which it may sign (set by a rotation).
    pub not_after: Option<DateTime<Utc>>,
    /// Withdrawn from the trust list altogether (compromise).
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("purpose", &self.purpose)
            .field("algorithm", &self.algorithm)
            .field("secret", &"***")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// An issued credential worth remembering (paper codes: revocable, listable).
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRecord {
    pub token_id: Vec<u8>,
    pub person_id: PersonId,
    pub kind: String,
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub issued_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One entry of the revocation log; `seq` orders the delta sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub seq: i64,
    pub token_id: Vec<u8>,
    pub revoked_at: DateTime<Utc>,
    pub reason: String,
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Every key, oldest first.
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    async fn set_key_validity(
        &self,
        kid: &str,
        not_after: Option<DateTime<Utc>>,
        retired_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    async fn record_credential(&self, c: &CredentialRecord) -> Result<(), StoreError>;
    async fn get_credential(&self, token_id: &[u8]) -> Result<Option<CredentialRecord>, StoreError>;
    async fn credentials_of(&self, person: PersonId) -> Result<Vec<CredentialRecord>, StoreError>;
    /// Revokes a recorded credential and appends to the log; revoking twice keeps the first entry.
    async fn revoke_credential(
        &self,
        token_id: &[u8],
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Revocation, StoreError>;
    /// Log entries after `since`, in order.
    async fn revocations_since(&self, since: i64, limit: u32) -> Result<Vec<Revocation>, StoreError>;
}
