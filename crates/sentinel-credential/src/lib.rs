//! Sentinel's credentials: dynamic and paper health codes as COSE_Sign1 over CWT claims, deflated and
//! base45-encoded behind a version prefix so a QR code stays in alphanumeric mode; issuer keys with ids
//! and validity periods; a signed trust list; revocation; signed place codes for venue posters; and QR rendering (SVG, PNG).
//!
//! The algorithm suite sits behind one seam ([`suite::Algorithm`]): Ed25519 today, SM2/SM3 (国密) next
//! to it when a deployment requires them.

mod cbor;
pub mod claims;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod place;
pub mod qr;
pub mod suite;
pub mod trust;
pub mod verify;

pub use claims::{CredentialKind, HealthClaims, StatusSnapshot, TokenId};
pub use error::VerifyError;
pub use keys::{KeyId, PublicKey, SigningKey};
pub use place::{PlaceCode, sign_place_code, verify_place_code};
pub use suite::Algorithm;
pub use trust::{TrustList, TrustedKey};
pub use verify::{Revocations, Signed, Verified, Verifier, issue, verify_signatures};
