//! One case traced on a snapshot of the index: the store's case becomes the engine's, and the engine's
//! contacts become the rows a case keeps (earliest exposure as evidence).

use chrono::{DateTime, TimeZone, Utc};
use sentinel_core::{PersonId, VenueId};
use sentinel_store::{CaseContact, TraceCase};
use sentinel_trace::{Contact, RuleSet, Tracer};

use super::Snapshot;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn contact_row(c: &Contact) -> CaseContact {
    let e = &c.evidence;
    // A companion shares the day, not a stretch of time: its evidence is its own stay.
    let to = if e.overlap_secs > 0 { e.from + e.overlap_secs } else { e.visit.ends };
    CaseContact {
        person_id: PersonId(i64::from(c.person)),
        tier: c.tier.code().to_owned(),
        venue_id: VenueId(i64::from(e.visit.venue)),
        via: PersonId(i64::from(e.through)),
        from: at(e.from),
        to: at(to),
        overlap_secs: e.overlap_secs,
        exposures: c.exposures,
        assignment_id: None,
    }
}

/// The engine's view of a case: isolated when it was opened.
pub fn engine_case(case: &TraceCase) -> Option<sentinel_trace::Case> {
    Some(sentinel_trace::Case {
        person: u32::try_from(case.person_id.0).ok()?,
        onset: case.onset_at.timestamp(),
        isolated_at: case.opened_at.timestamp(),
    })
}

/// Traces `cases` together under `rules` (close contacts taken as isolated at `now`): contacts close
/// first, then secondary, then companions, each by person.
pub fn trace_cases(
    snapshot: &Snapshot,
    rules: &RuleSet,
    cases: &[sentinel_trace::Case],
    now: DateTime<Utc>,
    utc_offset_secs: i32,
) -> Vec<CaseContact> {
    if cases.is_empty() {
        return Vec::new();
    }
    let result = Tracer::new(&snapshot.index).trace(rules, cases, now.timestamp(), utc_offset_secs);
    result.contacts().map(contact_row).collect()
}
