//! Issuing and verifying health codes.

use chrono::{DateTime, Duration, Utc};
use coset::iana::EnumI64;
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder};
use std::collections::HashSet;

use crate::claims::{HealthClaims, TokenId};
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::suite::Algorithm;
use crate::trust::{TrustList, TrustedKey};
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

/// A token whose envelope opened and whose signer is trusted, its signature not checked yet: a gate
/// checks the signatures of the scans that arrive together in one batch ([`verify_signatures`]).
pub struct Signed {
    trusted: TrustedKey,
    to_be_signed: Vec<u8>,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

impl Signed {
    /// RFC 8032 verification of this token's signature alone.
    fn signature_valid(&self) -> bool {
        self.trusted.key.verify(&self.to_be_signed, &self.signature)
    }

    /// This token's signature checked alone.
    pub fn verify(self) -> Result<Verified, VerifyError> {
        if self.signature_valid() { Ok(Verified(self)) } else { Err(VerifyError::BadSignature) }
    }
}

/// A token whose signature was found valid: the only thing [`Verifier::accept`] takes, so no caller can
/// accept claims whose signature it did not check.
pub struct Verified(Signed);

/// The signatures of `signed` checked, in order. Four or more are checked together (one multi-scalar
/// multiplication: about 0.6 of the cost of checking each at 16 or more); a batch that fails is split in
/// halves and each checked again, so one forgery among many costs a few smaller batches, not a check of
/// every signature alone.
pub fn verify_signatures(signed: Vec<Signed>) -> Vec<Result<Verified, VerifyError>> {
    let mut valid = Vec::with_capacity(signed.len());
    check_into(&signed, &mut valid);
    signed
        .into_iter()
        .zip(valid)
        .map(|(s, ok)| if ok { Ok(Verified(s)) } else { Err(VerifyError::BadSignature) })
        .collect()
}

/// Below this many, signatures are checked one by one (a batch of two or three saves little).
const SMALLEST_BATCH: usize = 4;

/// Appends whether each of `signed` carries a valid signature (see [`verify_signatures`]).
fn check_into(signed: &[Signed], valid: &mut Vec<bool>) {
    if signed.len() < SMALLEST_BATCH {
        valid.extend(signed.iter().map(|s| s.signature_valid()));
        return;
    }
    let batch: Vec<(&PublicKey, &[u8], &[u8])> =
        signed.iter().map(|s| (&s.trusted.key, &s.to_be_signed[..], &s.signature[..])).collect();
    if PublicKey::verify_batch(&batch) {
        valid.extend(std::iter::repeat_n(true, signed.len()));
        return;
    }
    let (first, second) = signed.split_at(signed.len() / 2);
    check_into(first, valid);
    check_into(second, valid);
}

impl<R: Revocations + ?Sized> Verifier<'_, R> {
    /// Decode (size-capped) → signature by a trusted key valid at issue time → validity window →
    /// not revoked. The signature is checked before the times, so a forgery is always `bad_signature`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        self.accept(&self.open(token)?.verify()?, now)
    }

    /// The first half of [`Verifier::verify`]: decodes the token and finds its trusted signer.
    pub fn open(&self, token: &str) -> Result<Signed, VerifyError> {
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
        Ok(Signed {
            trusted: trusted.clone(),
            to_be_signed: sign1.to_be_signed(),
            signature: sign1.signature.to_vec(),
            payload: sign1.payload.to_vec(),
        })
    }

    /// The second half of [`Verifier::verify`], for a token whose signature was found valid: its claims, if
    /// the key, as the trust list holds it now, was valid when it was issued, `now` is inside its validity
    /// window and it is not revoked.
    pub fn accept(&self, verified: &Verified, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        let signed = &verified.0;
        let claims = cbor::parse_claims(&signed.payload)?;
        // Looked up again: a key withdrawn while the signature was being checked no longer counts.
        let trusted = self.trust.get(&signed.trusted.key.kid()).ok_or(VerifyError::UnknownKey)?;
        if trusted.key != signed.trusted.key || !trusted.valid_at(claims.issued_at) {
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
