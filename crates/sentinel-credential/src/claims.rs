//! The claims a health code carries: CWT registered claims plus Sentinel's private claims (kind and a
//! status snapshot for offline decisions). The subject is a pseudonymous person id, never the ID number.

use chrono::{DateTime, Utc};
use ciborium::value::{Integer, Value};
use coset::cwt::{ClaimsSet, ClaimsSetBuilder, Timestamp};
use sentinel_core::health::{Colour, NatOutcome};
use std::fmt;

/// Private claim keys (negative integers are private in the CWT registry).
pub(crate) const CLAIM_KIND: i64 = -70_001;
pub(crate) const CLAIM_STATUS: i64 = -70_002;
/// Keys inside the status map.
pub(crate) const S_COLOUR: i64 = 1;
pub(crate) const S_NAT_SAMPLED: i64 = 2;
pub(crate) const S_NAT_OUTCOME: i64 = 3;
pub(crate) const S_DOSES: i64 = 4;
pub(crate) const S_ITINERARY: i64 = 5;

/// A credential's unique id (CWT `cti`), the handle of revocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; 16]);

impl TokenId {
    pub fn random() -> Self {
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        TokenId(id)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(TokenId(id))
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(TokenId)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.to_hex())
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// Shown on the phone, refreshed every minute, lives at most 120 s.
    Dynamic,
    /// 纸质码: printed for people without phones, lives 24 h, revocable.
    Paper,
}

impl CredentialKind {
    pub fn code(self) -> &'static str {
        match self {
            CredentialKind::Dynamic => "dynamic",
            CredentialKind::Paper => "paper",
        }
    }

    fn number(self) -> i64 {
        match self {
            CredentialKind::Dynamic => 1,
            CredentialKind::Paper => 2,
        }
    }
}

/// The status at issue time, so a device can decide while offline.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    pub colour: Colour,
    pub nat_sampled_at: Option<DateTime<Utc>>,
    pub nat_outcome: Option<NatOutcome>,
    pub vaccine_doses: u8,
    pub itinerary_risk: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthClaims {
    pub issuer: String,
    /// Pseudonymous person id.
    pub subject: String,
    pub token_id: TokenId,
    /// Whole seconds; also the not-before time.
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub kind: CredentialKind,
    pub status: StatusSnapshot,
}

fn int(v: i64) -> Value {
    Value::Integer(Integer::from(v))
}

fn colour_number(c: Colour) -> i64 {
    match c {
        Colour::Green => 1,
        Colour::Yellow => 2,
        Colour::Red => 3,
    }
}

impl HealthClaims {
    pub fn to_claims_set(&self) -> ClaimsSet {
        let mut status = vec![
            (int(S_COLOUR), int(colour_number(self.status.colour))),
            (int(S_DOSES), int(i64::from(self.status.vaccine_doses))),
            (int(S_ITINERARY), Value::Bool(self.status.itinerary_risk)),
        ];
        if let Some(t) = self.status.nat_sampled_at {
            status.push((int(S_NAT_SAMPLED), int(t.timestamp())));
        }
        if let Some(o) = self.status.nat_outcome {
            status.push((int(S_NAT_OUTCOME), int(if o == NatOutcome::Positive { 1 } else { 0 })));
        }
        ClaimsSetBuilder::new()
            .issuer(self.issuer.clone())
            .subject(self.subject.clone())
            .cwt_id(self.token_id.0.to_vec())
            .issued_at(Timestamp::WholeSeconds(self.issued_at.timestamp()))
            .not_before(Timestamp::WholeSeconds(self.issued_at.timestamp()))
            .expiration_time(Timestamp::WholeSeconds(self.expires_at.timestamp()))
            .private_claim(CLAIM_KIND, int(self.kind.number()))
            .private_claim(CLAIM_STATUS, Value::Map(status))
            .build()
    }
}
