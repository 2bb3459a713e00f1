//! The health registry's storage contract: code assignments with their history and appeals, NAT results,
//! vaccinations, itineraries and risk areas. Bulk writes are idempotent: a record sent twice is stored once.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sentinel_core::health::{
    Assignment, AssignmentSource, Colour, HealthRecord, NatKind, NatOutcome, RiskArea, RiskLevel,
    VaccineExemption,
};
use sentinel_core::{PersonId, RegionCode};

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct NewAssignment {
    pub person_id: PersonId,
    pub colour: Colour,
    /// The legal basis: a case id, an authority notice, a decision.
    pub reason: String,
    pub source: AssignmentSource,
    pub set_by: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
}

/// An assignment with whose it is and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentRecord {
    pub person_id: PersonId,
    pub assignment: Assignment,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNatResult {
    pub person_id: PersonId,
    pub sampled_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
    pub outcome: NatOutcome,
    pub kind: NatKind,
    pub lab: Option<String>,
    /// The sender's own id of the record; re-sending it changes nothing.
    pub source_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVaccination {
    pub person_id: PersonId,
    pub dose: u8,
    pub date: NaiveDate,
    pub product: String,
    pub manufacturer: String,
}

/// A medical exemption from vaccination, as certified (see [`VaccineExemption`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewVaccineExemption {
    pub person_id: PersonId,
    pub exemption: VaccineExemption,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewItinerary {
    pub person_id: PersonId,
    /// Any GB/T 2260 region, also outside the city.
    pub region: RegionCode,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRiskArea {
    pub region: RegionCode,
    pub name: String,
    pub level: RiskLevel,
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
    pub published_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppealStatus {
    Pending,
    /// The appeal succeeded: the assignment is lifted.
    Upheld,
    Rejected,
}

impl AppealStatus {
    pub fn code(self) -> &'static str {
        match self {
            AppealStatus::Pending => "pending",
            AppealStatus::Upheld => "upheld",
            AppealStatus::Rejected => "rejected",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(AppealStatus::Pending),
            "upheld" => Some(AppealStatus::Upheld),
            "rejected" => Some(AppealStatus::Rejected),
            _ => None,
        }
    }
}

/// An appeal (申诉) against a code assignment, and its decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Appeal {
    pub id: i64,
    pub assignment_id: i64,
    pub person_id: PersonId,
    pub filed_by: String,
    pub statement: String,
    pub filed_at: DateTime<Utc>,
    pub status: AppealStatus,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait HealthStore: Send + Sync {
    async fn add_assignment(
        &self,
        a: &NewAssignment,
        now: DateTime<Utc>,
    ) -> Result<AssignmentRecord, StoreError>;
    async fn get_assignment(&self, id: i64) -> Result<AssignmentRecord, StoreError>;
    /// Ends an assignment early; `NotFound` if it does not exist or was lifted already.
    async fn lift_assignment(
        &self,
        id: i64,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<AssignmentRecord, StoreError>;
    /// Every assignment of a person, oldest first: the colour history.
    async fn assignments_of(&self, person: PersonId) -> Result<Vec<AssignmentRecord>, StoreError>;

    /// Stores the results not stored yet (by source id, else by person, sample time and kind) in one
    /// transaction; returns how many were new.
    async fn add_nat_results(
        &self,
        results: &[NewNatResult],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// Idempotent by (person, dose).
    async fn add_vaccinations(&self, v: &[NewVaccination], now: DateTime<Utc>) -> Result<usize, StoreError>;
    /// Idempotent by (person, issuer, first day).
    async fn add_vaccine_exemptions(
        &self,
        v: &[NewVaccineExemption],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// Idempotent by (person, region, from, to).
    async fn add_itineraries(&self, v: &[NewItinerary], now: DateTime<Utc>) -> Result<usize, StoreError>;
    /// All records of a person, for the live status.
    async fn health_record(&self, person: PersonId) -> Result<HealthRecord, StoreError>;

    async fn add_risk_area(&self, area: &NewRiskArea, now: DateTime<Utc>) -> Result<RiskArea, StoreError>;
    /// Areas whose period has not ended at `at` (upcoming ones included), or all when `None`.
    async fn risk_areas(&self, at: Option<DateTime<Utc>>) -> Result<Vec<RiskArea>, StoreError>;
    async fn end_risk_area(&self, id: i64, at: DateTime<Utc>) -> Result<RiskArea, StoreError>;

    async fn file_appeal(
        &self,
        assignment_id: i64,
        filed_by: &str,
        statement: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError>;
    /// Decides a pending appeal; upholding it lifts the assignment in the same transaction.
    async fn decide_appeal(
        &self,
        id: i64,
        upheld: bool,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError>;
    async fn get_appeal(&self, id: i64) -> Result<Appeal, StoreError>;
    async fn appeals_of(&self, person: PersonId) -> Result<Vec<Appeal>, StoreError>;

    /// Persons whose records changed after `since` (every write above logs them), with the log position.
    async fn health_changes_since(&self, since: i64, limit: u32) -> Result<Vec<(i64, PersonId)>, StoreError>;
    /// The newest position in the change log (0 when empty).
    async fn latest_health_change(&self) -> Result<i64, StoreError>;
}
