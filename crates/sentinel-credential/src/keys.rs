//! Issuer keys: a key id derived from the public key, signing and verification through the suite seam.

use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::suite::Algorithm;

/// Eight bytes of SHA-256 over the algorithm and public key: short enough for every QR, unique enough
/// for a city's handful of keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    pub fn of(alg: Algorithm, public: &[u8]) -> Self {
        let digest = Sha256::new().chain_update(alg.code()).chain_update([0]).chain_update(public).finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(KeyId)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key material has the wrong length for {0}")]
    Length(&'static str),
    #[error("not a valid {0} public key")]
    Invalid(&'static str),
}

/// A private signing key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey {
    kid: KeyId,
    inner: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, {:?}, ***)", self.algorithm().code(), self.kid)
    }
}

impl SigningKey {
    pub fn generate(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Ed25519 => {
                let inner = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
                Self::wrap(inner)
            }
        }
    }

    fn wrap(inner: ed25519_dalek::SigningKey) -> Self {
        let kid = KeyId::of(Algorithm::Ed25519, inner.verifying_key().as_bytes());
        Self { kid, inner }
    }

    pub fn from_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        match alg {
            Algorithm::Ed25519 => {
                let bytes: [u8; 32] = secret.try_into().map_err(|_| KeyError::Length("Ed25519"))?;
                Ok(Self::wrap(ed25519_dalek::SigningKey::from_bytes(&bytes)))
            }
        }
    }

    /// The secret, for storage encrypted at rest.
    pub fn secret_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes().to_vec()
    }

    pub fn algorithm(&self) -> Algorithm {
        Algorithm::Ed25519
    }

    pub fn kid(&self) -> KeyId {
        self.kid
    }

    pub fn public(&self) -> PublicKey {
        PublicKey { kid: self.kid, inner: self.inner.verifying_key() }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.inner.sign(message).to_bytes().to_vec()
    }
}

/// A public verification key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: KeyId,
    inner: ed25519_dalek::VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {:?})", self.algorithm().code(), self.kid)
    }
}

impl PublicKey {
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        match alg {
            Algorithm::Ed25519 => {
                let raw: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length("Ed25519"))?;
                let inner = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map_err(|_| KeyError::Invalid("Ed25519"))?;
                Ok(Self { kid: KeyId::of(alg, &raw), inner })
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        Algorithm::Ed25519
    }

    pub fn kid(&self) -> KeyId {
        self.kid
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.as_bytes().to_vec()
    }

    /// RFC 8032 verification (canonical `s` required). Weak keys are refused when the key is loaded;
    /// the strict variant's per-signature check of `R` would cost a point decompression on every scan
    /// and guards only against signature malleability, which a code's security does not rest on
    /// (revocation and expiry are inside the signed claims).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        ed25519_dalek::Verifier::verify(&self.inner, message, &sig).is_ok()
    }

    /// Whether every `(key, message, signature)` verifies, checked together: one linear combination of the
    /// verification equations with coefficients derived from all the inputs (ed25519-dalek's batch
    /// verification, cofactorless like [`PublicKey::verify`]); false if any fails, without saying which.
    /// Unlike the single check it decompresses each `R`, so a genuine signature re-encoded may pass here and
    /// fail alone: malleability, not forgery (the same signed claims), which a code's security does not rest
    /// on (see [`PublicKey::verify`]).
    pub fn verify_batch(items: &[(&PublicKey, &[u8], &[u8])]) -> bool {
        let mut messages = Vec::with_capacity(items.len());
        let mut signatures = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for (key, message, signature) in items {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                return false;
            };
            messages.push(*message);
            signatures.push(sig);
            keys.push(key.inner);
        }
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_verify_and_round_trip() {
        let k = SigningKey::generate(Algorithm::Ed25519);
        let sig = k.sign(b"hello");
        assert!(k.public().verify(b"hello", &sig));
        assert!(!k.public().verify(b"hellp", &sig));
        assert!(!k.public().verify(b"hello", &sig[..10]));
        let again = SigningKey::from_secret(Algorithm::Ed25519, &k.secret_bytes()).unwrap();
        assert_eq!(again.kid(), k.kid());
        let public = PublicKey::from_bytes(Algorithm::Ed25519, &k.public().to_bytes()).unwrap();
        assert_eq!(public, k.public());
        assert_eq!(k.kid().to_hex().len(), 16);
        assert!(!format!("{k:?}").contains(&format!("{:?}", k.secret_bytes())));
    }
}
