//! Exposure tracing's storage contract: the visits a co-presence index is built from, a fast path for
//! loading generated visits, and investigators' cases with the contacts their last trace found and the
//! code assignments applied from them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::{PersonId, RegionCode, VenueCategory, VenueId};

use crate::query::from_millis;
use crate::{Page, PageRequest, StoreError};
use sentinel_core::health::Colour;

/// The most visits one bulk-load transaction holds. A running server's trace index reads new visits by id and
/// re-reads a margin below the highest it has seen (on PostgreSQL a transaction's ids can become visible after
/// a later one's); a transaction holding more ids than that margin could slip past it.
pub const MAX_BULK_VISITS: usize = 10_000;

/// An admitted visit as a trace index takes it (times in Unix milliseconds, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceVisitRow {
    pub id: i64,
    pub person_id: i64,
    pub venue_id: i64,
    pub entered_at_ms: i64,
    pub left_at_ms: Option<i64>,
}

/// A visit loaded in bulk (a generated city, a migration from another system): admitted, no device.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkVisit {
    pub person_id: PersonId,
    pub venue_id: VenueId,
    /// `self_scan`, `device_code`, …
    pub channel: &'static str,
    pub entered_at_ms: i64,
    pub left_at_ms: Option<i64>,
}

/// What the lookback of a case counts back from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnsetKind {
    /// Onset of symptoms (发病).
    Onset,
    /// Sampling of an asymptomatic case's positive test (采样).
    Sampled,
}

impl OnsetKind {
    pub fn code(self) -> &'static str {
        match self {
            OnsetKind::Onset => "onset",
            OnsetKind::Sampled => "sampled",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "onset" => Some(OnsetKind::Onset),
            "sampled" => Some(OnsetKind::Sampled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Opened; may be traced and applied.
    Open,
    /// Its contacts' codes were assigned at least once; still open to re-runs.
    Applied,
    /// Closed: read-only.
    Closed,
}

impl CaseStatus {
    pub fn code(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Applied => "applied",
            CaseStatus::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub person_id: PersonId,
    pub onset_at: DateTime<Utc>,
    pub onset_kind: OnsetKind,
    pub rule_set: String,
    pub rule_set_version: u32,
    pub opened_by: String,
}

/// An investigator's case (病例): a person, when their infectious period began, and the rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCase {
    pub id: i64,
    pub person_id: PersonId,
    pub onset_at: DateTime<Utc>,
    pub onset_kind: OnsetKind,
    pub rule_set: String,
    pub rule_set_version: u32,
    pub status: CaseStatus,
    pub opened_by: String,
    /// Also when the case is taken to be isolated: visits from then on are not exposures.
    pub opened_at: DateTime<Utc>,
    pub traced_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
}

/// A contact a case's last trace found, with the evidence of their earliest exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseContact {
    pub person_id: PersonId,
    /// `close`, `secondary` or `companion`.
    pub tier: String,
    pub venue_id: VenueId,
    /// The case or close contact they were with.
    pub via: PersonId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub overlap_secs: i64,
    /// How many exposures of this tier were found.
    pub exposures: u32,
    /// The code assignment applied for this contact at this tier, once applied.
    pub assignment_id: Option<i64>,
}

/// What applying a case assigns: per tier the colour and the end of its validity, to every contact of the
/// last trace not applied yet (optionally only those whose home lies in `region`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    /// (tier, colour, valid until); tiers not listed are not assigned.
    pub tiers: Vec<(String, Colour, DateTime<Utc>)>,
    /// The legal basis; the tier is appended (`case:7 china-2022` → `case:7 china-2022 close`).
    pub reason: String,
    pub set_by: String,
    /// Only contacts living in this region's subtree (a caller's scope); `None`: everyone.
    pub region: Option<RegionCode>,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub case: TraceCase,
    /// (person, tier) of each code assigned now.
    pub assigned: Vec<(PersonId, String)>,
    /// Contacts still without a code afterwards (outside the plan's region).
    pub not_applied: usize,
}

/// The order contacts are listed in: close before secondary before companion (urgency), then by person.
pub const CONTACT_ORDER: &str =
    "ORDER BY CASE tier WHEN 'close' THEN 0 WHEN 'secondary' THEN 1 ELSE 2 END, person_id";

/// Stored columns of a case, decoded the same way by both backends.
pub const CASE_COLUMNS: &str = "id, person_id, onset_at, onset_kind, rule_set, rule_set_version, opened_by, opened_at, traced_at, applied_at, \
     closed_at, closed_by";
pub const CONTACT_COLUMNS: &str =
    "person_id, tier, venue_id, via_person_id, from_at, to_at, overlap_secs, exposures, assignment_id";

pub struct CaseRow {
    pub id: i64,
    pub person_id: i64,
    pub onset_at: i64,
    pub onset_kind: String,
    pub rule_set: String,
    pub rule_set_version: i64,
    pub opened_by: String,
    pub opened_at: i64,
    pub traced_at: Option<i64>,
    pub applied_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

impl CaseRow {
    pub fn decode(self) -> Result<TraceCase, StoreError> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("case {} {what} {v}", self.id));
        Ok(TraceCase {
            id: self.id,
            person_id: PersonId(self.person_id),
            onset_at: from_millis(self.onset_at)?,
            onset_kind: OnsetKind::from_code(&self.onset_kind)
                .ok_or_else(|| corrupt("onset kind", &self.onset_kind))?,
            rule_set: self.rule_set.clone(),
            rule_set_version: u32::try_from(self.rule_set_version)
                .map_err(|_| corrupt("rule set version", &self.rule_set_version.to_string()))?,
            status: match (self.closed_at, self.applied_at) {
                (Some(_), _) => CaseStatus::Closed,
                (None, Some(_)) => CaseStatus::Applied,
                (None, None) => CaseStatus::Open,
            },
            opened_by: self.opened_by.clone(),
            opened_at: from_millis(self.opened_at)?,
            traced_at: self.traced_at.map(from_millis).transpose()?,
            applied_at: self.applied_at.map(from_millis).transpose()?,
            closed_at: self.closed_at.map(from_millis).transpose()?,
            closed_by: self.closed_by,
        })
    }
}

pub struct ContactRow {
    pub person_id: i64,
    pub tier: String,
    pub venue_id: i64,
    pub via_person_id: i64,
    pub from_at: i64,
    pub to_at: i64,
    pub overlap_secs: i64,
    pub exposures: i64,
    pub assignment_id: Option<i64>,
}

impl ContactRow {
    pub fn decode(self) -> Result<CaseContact, StoreError> {
        Ok(CaseContact {
            person_id: PersonId(self.person_id),
            tier: self.tier,
            venue_id: VenueId(self.venue_id),
            via: PersonId(self.via_person_id),
            from: from_millis(self.from_at)?,
            to: from_millis(self.to_at)?,
            overlap_secs: self.overlap_secs,
            exposures: u32::try_from(self.exposures)
                .map_err(|_| StoreError::Corrupt(format!("contact exposures {}", self.exposures)))?,
            assignment_id: self.assignment_id,
        })
    }
}

/// Keeps an earlier assignment only for a contact found again at the same tier: a contact raised from
/// secondary to close needs the stronger code.
pub fn carry_assignments(previous: &[CaseContact], contacts: &mut [CaseContact]) {
    let earlier: std::collections::HashMap<i64, (&str, Option<i64>)> =
        previous.iter().map(|c| (c.person_id.0, (c.tier.as_str(), c.assignment_id))).collect();
    for c in contacts {
        c.assignment_id = match earlier.get(&c.person_id.0) {
            Some((tier, id)) if *tier == c.tier => *id,
            _ => None,
        };
    }
}

#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Admitted visits (a person known, not denied) with an id in `(after_id, up_to_id]`, entered at or
    /// after `since`, in no particular order. Disjoint id ranges can be read at once.
    async fn visits_for_trace(
        &self,
        since: DateTime<Utc>,
        after_id: i64,
        up_to_id: i64,
    ) -> Result<Vec<TraceVisitRow>, StoreError>;
    /// The highest visit id (0 when there are none).
    async fn max_visit_id(&self) -> Result<i64, StoreError>;
    /// Every venue's category, retired venues included (old visits refer to them).
    async fn venue_categories(&self) -> Result<Vec<(VenueId, VenueCategory)>, StoreError>;
    /// Every person's id and home grid, by id, without reading (and decrypting) the rest of them.
    async fn person_homes(&self) -> Result<Vec<(PersonId, RegionCode)>, StoreError>;
    /// Appends visits, the fast path of a bulk load, in transactions of at most [`MAX_BULK_VISITS`] (a
    /// running server's trace index catches up by visit id with a margin larger than that); returns how many.
    async fn bulk_insert_visits(&self, visits: &[BulkVisit]) -> Result<usize, StoreError>;
    /// Before a bulk load of many visits: drop the visit indexes that make each insert a random write, to
    /// be rebuilt by one sort in [`CaseStore::end_bulk_load`]. A no-op where that does not pay.
    async fn begin_bulk_load(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Rebuilds what [`CaseStore::begin_bulk_load`] dropped (safe to call when nothing was dropped).
    async fn end_bulk_load(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_case(&self, case: &NewCase, now: DateTime<Utc>) -> Result<TraceCase, StoreError>;
    async fn get_case(&self, id: i64) -> Result<TraceCase, StoreError>;
    /// Newest first; with `open_only`, closed cases are left out; with `region`, only cases whose person lives
    /// in its subtree.
    async fn list_cases(
        &self,
        open_only: bool,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<TraceCase>, StoreError>;
    /// Replaces the case's contacts with a new trace's (assignments carried over per
    /// [`carry_assignments`]) in one transaction; returns the case and the contacts replaced (what a re-run
    /// is compared with). `Conflict` if the case is closed.
    async fn save_case_trace(
        &self,
        id: i64,
        contacts: &[CaseContact],
        now: DateTime<Utc>,
    ) -> Result<(TraceCase, Vec<CaseContact>), StoreError>;
    /// The contacts of the last trace, by tier (close first) then person; only one tier when given. (An
    /// unknown case has none: callers look the case up first.)
    /// With `window` `(offset, limit)`, only that stretch of the list.
    async fn case_contacts(
        &self,
        id: i64,
        tier: Option<&str>,
        window: Option<(u32, u32)>,
    ) -> Result<Vec<CaseContact>, StoreError>;
    /// In one transaction (the case locked): picks the contacts of the last trace with no assignment yet
    /// that the plan covers, adds a `tracing` code assignment for each from `now`, records it on the
    /// contact, logs the health change, and marks the case applied. `Conflict` if the case is closed. Two
    /// applies at once assign each contact once.
    async fn apply_case(&self, id: i64, plan: &ApplyPlan, now: DateTime<Utc>) -> Result<Applied, StoreError>;
    /// `Conflict` if closed already.
    async fn close_case(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<TraceCase, StoreError>;
}
