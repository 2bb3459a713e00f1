//! Exposure tracing (流调溯源): a compact co-presence index over the visits of the last days, rule sets as data,
//! and the trace itself (trajectory, close and secondary contacts, same-day companions, with evidence).
//!
//! Times are whole seconds since the Unix epoch (`i64`); persons and venues are dense `u32` numbers the caller
//! maps to and from its own ids. Nothing here reads a clock or does I/O.

pub mod index;
pub mod layered;
mod pending;
mod person_bits;
mod prefetch;
pub mod rules;
mod search;
pub mod trace;

pub use index::{IndexError, IndexStats, TraceIndex, TraceVisit, VisitView};
pub use layered::{IndexView, LayeredIndex};
pub use rules::{RuleError, RuleSet, TierRule};
pub use trace::{Case, Contact, Evidence, Tier, TraceResult, Tracer, trace, trajectory};
