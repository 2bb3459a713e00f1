//! The entry check's services: the published policies, one check-in path for every channel, the
//! group-commit visit writer and the live alert feed.

pub mod checkin;
pub mod devices;
pub mod dispatch;
pub mod escalation;
pub mod events;
pub mod facts;
pub mod policy;
pub mod writer;

pub use devices::DeviceCache;
pub use events::{AlertEvent, AlertFeed};
pub use facts::FactsCache;
pub use policy::{PolicyBook, PolicyDoc};
pub use writer::VisitWriter;
