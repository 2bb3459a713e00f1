//! The signature algorithm seam. Every signing and verification goes through [`Algorithm`], so adding the
//! national suite (SM2 signatures with SM3, GM/T 0003/0004) is one more variant here.

use coset::iana;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// EdDSA over Curve25519 (COSE alg -8).
    Ed25519,
}

impl Algorithm {
    pub fn code(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "Ed25519" | "EdDSA" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    pub fn cose(self) -> iana::Algorithm {
        match self {
            Algorithm::Ed25519 => iana::Algorithm::EdDSA,
        }
    }

    pub fn from_cose(alg: &coset::Algorithm) -> Option<Self> {
        match alg {
            coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA) => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}
