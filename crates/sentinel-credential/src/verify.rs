//! Issuing and verifying health codes.

use chrono::{DateTime, Duration, Utc};
use coset::iana::EnumI64;
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder};
use std::collections::HashSet;

use crate::claims::{HealthClaims, TokenId};
use crate::keys::{KeyId, SigningKey};
use crate::suite::Algorithm;
use crate::trust::TrustList;
use crate::{VerifyError, cbor, envelope};

/// Which credentials are revoked.
pub trait Revocations {
    fn is_revoked(&self, id: &TokenId) -> bool;
}

impl Revocations for HashSet<TokenId> {
    fn is_revoked(&self, id: &TokenId) -> bool {
        self.contains(id)
    }
}

/// Signs the claims and returns the token text.
pub fn issue(key: &SigningKey, claims: &HealthClaims) -> String {
    let payload = claims.to_claims_set().to_vec().expect("encoding claims to memory cannot fail");
    envelope::seal(&sign(key, payload))
}

/// A COSE_Sign1 over `payload`, signed by `key` and naming its algorithm and key id: health codes, the
/// signed trust list, and tests that sign bytes of their own all go through here.
pub fn sign(key: &SigningKey, payload: Vec<u8>) -> Vec<u8> {
    let protected =
        HeaderBuilder::new().algorithm(key.algorithm().cose()).key_id(key.kid().0.to_vec()).build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", |data| key.sign(data))
        .build()
        .to_vec()
        .expect("encoding COSE to memory cannot fail")
}

/// Verifies tokens against a trust list and a revocation set, allowing some clock skew.
pub struct Verifier<'a, R: Revocations + ?Sized> {
    pub trust: &'a TrustList,
    pub revocations: &'a R,
    /// How far device and server clocks may disagree.
    pub skew: Duration,
}

impl<R: Revocations + ?Sized> Verifier<'_, R> {
    /// Decode (size-capped) → signature by a trusted key valid at issue time → validity window →
    /// not revoked. The signature is checked before the times, so a forgery is always `bad_signature`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        let cose = envelope::open(token)?;
        let sign1 = cbor::Sign1::parse(&cose)?;
        let alg = sign1
            .alg
            .and_then(|a| {
                Algorithm::from_cose(&coset::RegisteredLabelWithPrivate::Assigned(
                    coset::iana::Algorithm::from_i64(a)?,
                ))
            })
            .ok_or_else(|| VerifyError::malformed("algorithm"))?;
        let kid = sign1.kid.and_then(KeyId::from_slice).ok_or_else(|| VerifyError::malformed("key id"))?;
        let trusted = self.trust.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if trusted.key.algorithm() != alg {
            return Err(VerifyError::BadSignature);
        }
        if !trusted.key.verify(&sign1.to_be_signed(), sign1.signature) {
            return Err(VerifyError::BadSignature);
        }
        let claims = cbor::parse_claims(sign1.payload)?;
        if !trusted.valid_at(claims.issued_at) {
            return Err(VerifyError::UnknownKey);
        }
        if now + self.skew < claims.issued_at {
            return Err(VerifyError::NotYetValid);
        }
        if now - self.skew >= claims.expires_at {
            return Err(VerifyError::Expired);
        }
        if self.revocations.is_revoked(&claims.token_id) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }
}
