//! The entry check's storage contract: versioned policies, device tokens, visits written in batches
//! (group commit) together with the alerts they raise, and the alerts' lifecycle.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::{DeviceId, PersonId, RegionCode, Scope, VenueCategory, VenueId};

use crate::StoreError;
use crate::model::{Device, Page, PageRequest, Venue};

/// Where a policy applies: the city default, a venue category, or one venue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyScope {
    City,
    Category(VenueCategory),
    Venue(VenueId),
}

impl PolicyScope {
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyScope::City => "city",
            PolicyScope::Category(_) => "category",
            PolicyScope::Venue(_) => "venue",
        }
    }

    pub fn value(&self) -> String {
        match self {
            PolicyScope::City => String::new(),
            PolicyScope::Category(c) => c.code().to_owned(),
            PolicyScope::Venue(v) => v.to_string(),
        }
    }

    pub fn from_parts(kind: &str, value: &str) -> Option<Self> {
        match kind {
            "city" => Some(PolicyScope::City),
            "category" => VenueCategory::from_code(value).map(PolicyScope::Category),
            "venue" => value.parse().ok().map(|v| PolicyScope::Venue(VenueId(v))),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStatus {
    Draft,
    Published,
}

impl PolicyStatus {
    pub fn code(self) -> &'static str {
        match self {
            PolicyStatus::Draft => "draft",
            PolicyStatus::Published => "published",
        }
    }
}

/// A policy version. The body is the policy's JSON, which the server reads and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: i64,
    pub scope: PolicyScope,
    /// Counts up per scope.
    pub version: i64,
    pub body: String,
    pub status: PolicyStatus,
    pub effective_from: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub published_by: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
}

/// An alert a visit raises, routed to the grid of the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// The reason code, e.g. `code_red`, `fever`.
    pub kind: String,
    pub region_code: RegionCode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    /// `None` when the credential could not be read: the scan is recorded all the same.
    pub person_id: Option<PersonId>,
    pub venue_id: VenueId,
    pub device_id: Option<DeviceId>,
    pub channel: String,
    pub entered_at: DateTime<Utc>,
    pub outcome: String,
    pub reasons: Vec<String>,
    pub policy_id: Option<i64>,
    /// The label of the policy in force, naming every level that shaped it (`venue:7 v2 ∧ city v3`).
    pub policy_version: String,
    pub temperature_c: Option<f32>,
    pub mask: Option<bool>,
    /// With the device, makes a retried scan the same visit.
    pub idempotency_key: Option<String>,
    /// The staff member who registered by hand, or the guardian of a proxy check-in.
    pub registrar: Option<String>,
    /// What the gate was told to say (zh, en).
    pub prompt: Option<(String, String)>,
    pub alerts: Vec<NewAlert>,
}

/// What storing a visit gave.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedVisit {
    pub visit_id: i64,
    /// The idempotency key was seen before: this is the earlier visit, and nothing new was stored.
    pub duplicate: bool,
    pub alert_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub id: i64,
    pub person_id: Option<PersonId>,
    pub venue_id: VenueId,
    pub device_id: Option<DeviceId>,
    pub channel: String,
    pub entered_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub reasons: Vec<String>,
    pub policy_id: Option<i64>,
    /// Visits recorded before labels were kept have none.
    pub policy_version: Option<String>,
    pub temperature_c: Option<f32>,
    pub mask: Option<bool>,
    pub registrar: Option<String>,
    pub prompt: Option<(String, String)>,
    /// The venue's category, for inferring a missing check-out.
    pub category: VenueCategory,
}

#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// Only visits at venues this scope covers.
    pub scope: Option<Scope>,
    pub venue: Option<VenueId>,
    pub person: Option<PersonId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn code(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "open" => Some(AlertStatus::Open),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: i64,
    pub kind: String,
    pub visit_id: Option<i64>,
    pub venue_id: VenueId,
    pub person_id: Option<PersonId>,
    /// The venue's grid: whose grid workers hear of it.
    pub region_code: RegionCode,
    pub status: AlertStatus,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    /// Escalations so far: 0 when raised (heard in the venue's region, its grid for most venues); each one
    /// moves it a level up, grid → community → street → district (`RegionLevel::hears_alert`).
    pub level: u8,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this region subtree (the caller's), or at venues of this category.
    pub scope: Option<Scope>,
    pub status: Option<AlertStatus>,
    pub venue: Option<VenueId>,
}

/// An unvaccinated person's details taken at a gate (未接种登记). Personal fields are encrypted at rest.
#[derive(Clone, PartialEq)]
pub struct NewUnvaccinated {
    pub venue_id: VenueId,
    pub person_id: Option<PersonId>,
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Home community (or grid): it receives the report.
    pub home_region: RegionCode,
    pub reason: String,
    pub registrar: String,
    /// With the venue, makes a registration sent again the same registration.
    pub idempotency_key: Option<String>,
}

#[derive(Clone, PartialEq)]
pub struct Unvaccinated {
    pub id: i64,
    pub venue_id: VenueId,
    pub person_id: Option<PersonId>,
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub home_region: RegionCode,
    pub reason: String,
    pub registrar: String,
    pub alert_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Unvaccinated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unvaccinated")
            .field("id", &self.id)
            .field("venue_id", &self.venue_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait EntryStore: Send + Sync {
    /// Stores the registration and its report (an `unvaccinated_report` alert raised in the home's community,
    /// `RegionCode::community`, so the community hears it at once, and visible to the venue category's
    /// department), with the report's outbox rows, in one transaction. A
    /// registration whose idempotency key the venue has used already is not stored or reported again: the
    /// earlier one comes back with `true`.
    async fn register_unvaccinated(
        &self,
        r: &NewUnvaccinated,
        now: DateTime<Utc>,
    ) -> Result<(Unvaccinated, bool), StoreError>;
    /// Registrations whose home lies in the scope's region, or made at venues the scope covers; newest first.
    async fn list_unvaccinated(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<Unvaccinated>, StoreError>;

    /// A new draft version for the scope.
    async fn create_policy(
        &self,
        scope: &PolicyScope,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError>;
    /// Publishes a draft from `effective_from` on; `NotFound` unless it is a draft.
    async fn publish_policy(
        &self,
        id: i64,
        effective_from: DateTime<Utc>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError>;
    /// Every version, newest first.
    async fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError>;

    /// Sets a device's bearer token (its hash), or with `None` revokes it; the previous token stops working.
    async fn set_device_token(&self, device: DeviceId, token_hash: Option<&[u8]>) -> Result<(), StoreError>;
    async fn device_by_token(&self, token_hash: &[u8]) -> Result<Option<(Device, Venue)>, StoreError>;

    /// Stores the visits and their alerts in one transaction (group commit); the answer is in input order.
    async fn record_visits(&self, visits: &[NewVisit]) -> Result<Vec<RecordedVisit>, StoreError>;
    /// How many `record_visits` transactions may usefully run at once: one for SQLite's single writer,
    /// more for a server that overlaps one commit's flush with the next batch.
    fn concurrent_visit_batches(&self) -> usize {
        1
    }
    async fn list_visits(&self, filter: &VisitFilter, page: PageRequest) -> Result<Page<Visit>, StoreError>;
    async fn get_visit(&self, id: i64) -> Result<Visit, StoreError>;

    /// Newest first.
    async fn list_alerts(&self, filter: &AlertFilter, page: PageRequest) -> Result<Page<Alert>, StoreError>;
    async fn get_alert(&self, id: i64) -> Result<Alert, StoreError>;
    /// Raises by one level every open alert untouched since `older_than` that has not reached the district
    /// (its level is below its region's escalation rank), and owes a delivery of it to the
    /// deployment-wide webhooks and to the region webhooks at its new level (same transaction); returns them.
    async fn escalate_alerts(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError>;
    /// Moves an alert forward (open → acknowledged → resolved); `NotFound` if it is not in a state to.
    async fn advance_alert(
        &self,
        id: i64,
        to: AlertStatus,
        by: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Alert, StoreError>;
}
