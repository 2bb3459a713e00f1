//! The entry check's services: the published policies, the group-commit visit writer and the live
//! alert feed.

pub mod dispatch;
pub mod events;
pub mod policy;
pub mod writer;

pub use events::{AlertEvent, AlertFeed};
pub use policy::{PolicyBook, PolicyDoc};
pub use writer::VisitWriter;
