//! Sentinel's domain core: the types and pure rules every other crate builds on.
//!
//! Nothing here does I/O or reads a clock: time is always a parameter. Values are parsed once at the
//! boundary into these types, so an invalid resident ID number or region code cannot exist past it.

pub mod access;
pub mod entry;
pub mod health;
pub mod id_number;
pub mod ids;
pub mod masking;
pub mod name;
pub mod phone;
pub mod region;
pub mod venue;

pub use access::{Permission, Role, Scope, ScopeParseError};
pub use id_number::{IdNumberError, ResidentIdNumber, Sex};
pub use ids::{DeviceId, PersonId, UserId, VenueId};
pub use name::{NameError, PersonName};
pub use phone::{PhoneError, PhoneNumber};
pub use region::{RegionCode, RegionCodeError, RegionLevel};
pub use venue::{DeviceKind, VenueCategory};
