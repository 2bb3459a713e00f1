//! Stored columns of the entry tables, decoded the same way by both backends, and their filters.

use sentinel_core::{DeviceId, PersonId, Scope, VenueId};

use crate::query::{SqlValue, Where, category, from_millis, region_code};
use crate::{
    Alert, AlertFilter, AlertStatus, PolicyRecord, PolicyScope, PolicyStatus, StoreError, Visit, VisitFilter,
};

pub const POLICY_COLUMNS: &str = "id, scope_kind, scope_value, version, body, status, effective_from, created_by, \
                                  created_at, published_by, published_at";
pub const VISIT_COLUMNS: &str = "x.id, x.person_id, x.venue_id, x.device_id, x.channel, x.entered_at, x.left_at, \
                                 x.outcome, x.reasons, x.policy_id, x.temperature_c, x.mask, x.registrar, v.category, x.prompt_zh, x.prompt_en, x.policy_version";
pub const ALERT_COLUMNS: &str = "a.id, a.kind, a.visit_id, a.venue_id, a.person_id, a.region_code, a.status, \
                                 a.created_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.note, a.level";

pub struct PolicyRow {
    pub id: i64,
    pub scope_kind: String,
    pub scope_value: String,
    pub version: i64,
    pub body: String,
    pub status: String,
    pub effective_from: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub published_by: Option<String>,
    pub published_at: Option<i64>,
}

impl PolicyRow {
    pub fn decode(self) -> Result<PolicyRecord, StoreError> {
        Ok(PolicyRecord {
            id: self.id,
            scope: PolicyScope::from_parts(&self.scope_kind, &self.scope_value).ok_or_else(|| {
                StoreError::Corrupt(format!("policy scope {} {}", self.scope_kind, self.scope_value))
            })?,
            version: self.version,
            body: self.body,
            status: if self.status == "published" { PolicyStatus::Published } else { PolicyStatus::Draft },
            effective_from: self.effective_from.map(from_millis).transpose()?,
            created_by: self.created_by,
            created_at: from_millis(self.created_at)?,
            published_by: self.published_by,
            published_at: self.published_at.map(from_millis).transpose()?,
        })
    }
}

pub struct VisitRow {
    pub id: i64,
    pub person_id: Option<i64>,
    pub venue_id: i64,
    pub device_id: Option<i64>,
    pub channel: String,
    pub entered_at: i64,
    pub left_at: Option<i64>,
    pub outcome: String,
    pub reasons: String,
    pub policy_id: Option<i64>,
    pub temperature_c: Option<f64>,
    pub mask: Option<bool>,
    pub registrar: Option<String>,
    pub category: String,
    pub prompt_zh: Option<String>,
    pub prompt_en: Option<String>,
    pub policy_version: Option<String>,
}

pub fn join_reasons(reasons: &[String]) -> String {
    reasons.join(",")
}

impl VisitRow {
    pub fn decode(self) -> Result<Visit, StoreError> {
        Ok(Visit {
            id: self.id,
            person_id: self.person_id.map(PersonId),
            venue_id: VenueId(self.venue_id),
            device_id: self.device_id.map(DeviceId),
            channel: self.channel,
            entered_at: from_millis(self.entered_at)?,
            left_at: self.left_at.map(from_millis).transpose()?,
            outcome: self.outcome,
            reasons: self.reasons.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
            policy_id: self.policy_id,
            policy_version: self.policy_version,
            temperature_c: self.temperature_c.map(|t| t as f32),
            mask: self.mask,
            registrar: self.registrar,
            prompt: self.prompt_zh.zip(self.prompt_en),
            category: category(&self.category)?,
        })
    }
}

pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub visit_id: Option<i64>,
    pub venue_id: i64,
    pub person_id: Option<i64>,
    pub region_code: String,
    pub status: String,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    pub level: i64,
}

impl AlertRow {
    pub fn decode(self) -> Result<Alert, StoreError> {
        Ok(Alert {
            id: self.id,
            kind: self.kind,
            visit_id: self.visit_id,
            venue_id: VenueId(self.venue_id),
            person_id: self.person_id.map(PersonId),
            region_code: region_code(&self.region_code)?,
            status: AlertStatus::from_code(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("alert status {}", self.status)))?,
            created_at: from_millis(self.created_at)?,
            acknowledged_at: self.acknowledged_at.map(from_millis).transpose()?,
            acknowledged_by: self.acknowledged_by,
            resolved_at: self.resolved_at.map(from_millis).transpose()?,
            resolved_by: self.resolved_by,
            note: self.note,
            level: u8::try_from(self.level)
                .map_err(|_| StoreError::Corrupt(format!("alert level {}", self.level)))?,
        })
    }
}

/// Visits (`x`, joined with venues `v`) by scope, venue, person and time; ascending by id.
pub fn visit_where(w: &mut Where, f: &VisitFilter) {
    scope_filter(w, f.scope.as_ref(), "v.region_code", "v.category", "v.id");
    if let Some(v) = f.venue {
        let p = w.bind(SqlValue::Int(v.0));
        w.push(format!("x.venue_id = {p}"));
    }
    if let Some(person) = f.person {
        let p = w.bind(SqlValue::Int(person.0));
        w.push(format!("x.person_id = {p}"));
    }
    if let Some(from) = f.from {
        let p = w.bind(SqlValue::Int(from.timestamp_millis()));
        w.push(format!("x.entered_at >= {p}"));
    }
    if let Some(to) = f.to {
        let p = w.bind(SqlValue::Int(to.timestamp_millis()));
        w.push(format!("x.entered_at < {p}"));
    }
}

/// Alerts (`a`, joined with venues `v`) by scope, status and venue.
pub fn alert_where(w: &mut Where, f: &AlertFilter) {
    scope_filter(w, f.scope.as_ref(), "a.region_code", "v.category", "a.venue_id");
    if let Some(s) = f.status {
        let p = w.bind(SqlValue::Text(s.code().into()));
        w.push(format!("a.status = {p}"));
    }
    if let Some(v) = f.venue {
        let p = w.bind(SqlValue::Int(v.0));
        w.push(format!("a.venue_id = {p}"));
    }
}

fn scope_filter(w: &mut Where, scope: Option<&Scope>, region: &str, category: &str, venue: &str) {
    match scope {
        None | Some(Scope::All) => {}
        Some(Scope::Region(r)) => w.region_subtree(region, r),
        Some(Scope::Category(c)) => {
            let p = w.bind(SqlValue::Text(c.code().into()));
            w.push(format!("{category} = {p}"));
        }
        Some(Scope::Venue(id)) => {
            let p = w.bind(SqlValue::Int(id.0));
            w.push(format!("{venue} = {p}"));
        }
    }
}

pub const UNVACCINATED_FIELDS: [&str; 3] =
    ["unvaccinated.name", "unvaccinated.phone", "unvaccinated.address"];
pub const UNVACCINATED_COLUMNS: &str = "u.id, u.venue_id, u.person_id, u.name_enc, u.phone_enc, u.address_enc, \
                                        u.home_region, u.reason, u.registrar, u.alert_id, u.created_at";

pub struct UnvaccinatedRow {
    pub id: i64,
    pub venue_id: i64,
    pub person_id: Option<i64>,
    pub name_enc: Vec<u8>,
    pub phone_enc: Option<Vec<u8>>,
    pub address_enc: Option<Vec<u8>>,
    pub home_region: String,
    pub reason: String,
    pub registrar: String,
    pub alert_id: Option<i64>,
    pub created_at: i64,
}

impl UnvaccinatedRow {
    pub fn decode(self, cipher: &crate::PersonalDataCipher) -> Result<crate::Unvaccinated, StoreError> {
        let [name_f, phone_f, address_f] = UNVACCINATED_FIELDS;
        Ok(crate::Unvaccinated {
            id: self.id,
            venue_id: VenueId(self.venue_id),
            person_id: self.person_id.map(PersonId),
            name: cipher.decrypt(name_f, &self.name_enc)?,
            phone: self.phone_enc.map(|p| cipher.decrypt(phone_f, &p)).transpose()?,
            address: self.address_enc.map(|a| cipher.decrypt(address_f, &a)).transpose()?,
            home_region: region_code(&self.home_region)?,
            reason: self.reason,
            registrar: self.registrar,
            alert_id: self.alert_id,
            created_at: from_millis(self.created_at)?,
        })
    }
}

/// Registrations (`u`, joined with venues `v`) a scope sees: by home or venue region, category or venue.
pub fn unvaccinated_where(w: &mut Where, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Region(r) => {
            let p = w.bind(SqlValue::Text(r.subtree_like()));
            w.push(format!("(u.home_region LIKE {p} OR v.region_code LIKE {p})"));
        }
        Scope::Category(c) => {
            let p = w.bind(SqlValue::Text(c.code().into()));
            w.push(format!("v.category = {p}"));
        }
        Scope::Venue(id) => {
            let p = w.bind(SqlValue::Int(id.0));
            w.push(format!("u.venue_id = {p}"));
        }
    }
}
