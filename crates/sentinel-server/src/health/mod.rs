//! The health registry's services: the issuer key ring with its trust list and revocations, the gate's
//! batched signature checks, the live status cache the gate reads, and bulk imports.

pub mod cache;
pub mod import;
pub mod keyring;
pub mod signatures;

pub use cache::StatusCache;
pub use keyring::KeyRing;
pub use signatures::SignatureChecker;
