//! Entry policies as JSON documents (the wire and storage form of `sentinel_core::entry::EntryPolicy`),
//! and the book of published versions the gate decides with: venue → category → city, the newest version
//! in force at the moment of the scan.

use chrono::{DateTime, Utc};
use sentinel_core::entry::{Effect, EntryPolicy, OnFailure};
use sentinel_core::health::{Colour, NatKind};
use sentinel_core::{VenueCategory, VenueId};
use sentinel_store::{PolicyRecord, PolicyScope, PolicyStatus, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use utoipa::ToSchema;

/// What failing a check does.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OnFailureDoc {
    /// ignore, remind or deny
    pub effect: String,
    pub alert: bool,
}

impl From<OnFailure> for OnFailureDoc {
    fn from(o: OnFailure) -> Self {
        Self { effect: o.effect.code().into(), alert: o.alert }
    }
}

/// An entry policy. Missing fields take the city default (the Suzhou notice's rules).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyDoc {
    /// green, yellow, red
    pub accepted_colours: Vec<String>,
    pub on_colour: OnFailureDoc,
    /// null, 24, 48 or 72
    pub nat_max_age_hours: Option<u32>,
    /// pcr, antigen
    pub nat_kinds: Vec<String>,
    pub on_nat: OnFailureDoc,
    pub min_vaccine_doses: u8,
    pub vaccine_exempt_under_age: u8,
    pub on_vaccine: OnFailureDoc,
    pub on_risk_itinerary: OnFailureDoc,
    pub temperature_max_c: f32,
    pub on_fever: OnFailureDoc,
    /// The mask rule: ignore (off), remind or deny.
    pub on_no_mask: OnFailureDoc,
    pub face_match_min: f32,
    pub on_face_mismatch: OnFailureDoc,
    pub paper_codes_accepted: bool,
    pub proxy_accepted: bool,
    /// Shorthand for `on_no_mask`: `off`, `remind` or `deny` (DESIGN.md §6).
    #[serde(skip_serializing)]
    pub mask: Option<String>,
}

impl Default for PolicyDoc {
    fn default() -> Self {
        Self::from(&EntryPolicy::default())
    }
}

impl From<&EntryPolicy> for PolicyDoc {
    fn from(p: &EntryPolicy) -> Self {
        Self {
            accepted_colours: p.accepted_colours.iter().map(|c| c.code().to_owned()).collect(),
            on_colour: p.on_colour.into(),
            nat_max_age_hours: p.nat_max_age_hours,
            nat_kinds: p.nat_kinds.iter().map(|k| k.code().to_owned()).collect(),
            on_nat: p.on_nat.into(),
            min_vaccine_doses: p.min_vaccine_doses,
            vaccine_exempt_under_age: p.vaccine_exempt_under_age,
            on_vaccine: p.on_vaccine.into(),
            on_risk_itinerary: p.on_risk_itinerary.into(),
            temperature_max_c: p.temperature_max_c,
            on_fever: p.on_fever.into(),
            on_no_mask: p.on_no_mask.into(),
            face_match_min: p.face_match_min,
            on_face_mismatch: p.on_face_mismatch.into(),
            paper_codes_accepted: p.paper_codes_accepted,
            proxy_accepted: p.proxy_accepted,
            mask: None,
        }
    }
}

impl PolicyDoc {
    /// The policy, or the field that is wrong and why.
    pub fn to_policy(&self) -> Result<EntryPolicy, (String, String)> {
        let bad = |field: &str, why: &str| (field.to_owned(), why.to_owned());
        let on = |field: &str, d: &OnFailureDoc| {
            Effect::from_code(&d.effect).map(|effect| OnFailure::new(effect, d.alert)).ok_or_else(|| {
                bad(field, "effect 应为 ignore、remind 或 deny / effect must be ignore, remind or deny")
            })
        };
        let accepted_colours = self
            .accepted_colours
            .iter()
            .map(|c| {
                Colour::from_code(c).ok_or_else(|| bad("accepted_colours", "颜色应为 green、yellow、red"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nat_kinds = self
            .nat_kinds
            .iter()
            .map(|k| NatKind::from_code(k).ok_or_else(|| bad("nat_kinds", "类型应为 pcr 或 antigen")))
            .collect::<Result<Vec<_>, _>>()?;
        if self.nat_max_age_hours.is_some_and(|h| !(1..=24 * 14).contains(&h)) {
            return Err(bad("nat_max_age_hours", "应为1–336小时或null / must be 1–336 hours or null"));
        }
        if !(35.0..=39.0).contains(&self.temperature_max_c) {
            return Err(bad("temperature_max_c", "应为35–39 °C / must be 35–39 °C"));
        }
        if !(0.0..=1.0).contains(&self.face_match_min) {
            return Err(bad("face_match_min", "应为0–1 / must be 0–1"));
        }
        if self.min_vaccine_doses > 10 {
            return Err(bad("min_vaccine_doses", "应为0–10 / must be 0–10"));
        }
        let on_no_mask = match self.mask.as_deref() {
            None => on("on_no_mask", &self.on_no_mask)?,
            Some("off") => OnFailure::new(Effect::Ignore, false),
            Some("remind") => OnFailure::new(Effect::Remind, false),
            Some("deny") => OnFailure::new(Effect::Deny, true),
            Some(_) => return Err(bad("mask", "应为 off、remind 或 deny / must be off, remind or deny")),
        };
        Ok(EntryPolicy {
            accepted_colours,
            on_colour: on("on_colour", &self.on_colour)?,
            nat_max_age_hours: self.nat_max_age_hours,
            nat_kinds,
            on_nat: on("on_nat", &self.on_nat)?,
            min_vaccine_doses: self.min_vaccine_doses,
            vaccine_exempt_under_age: self.vaccine_exempt_under_age,
            on_vaccine: on("on_vaccine", &self.on_vaccine)?,
            on_risk_itinerary: on("on_risk_itinerary", &self.on_risk_itinerary)?,
            temperature_max_c: self.temperature_max_c,
            on_fever: on("on_fever", &self.on_fever)?,
            on_no_mask,
            face_match_min: self.face_match_min,
            on_face_mismatch: on("on_face_mismatch", &self.on_face_mismatch)?,
            paper_codes_accepted: self.paper_codes_accepted,
            proxy_accepted: self.proxy_accepted,
        })
    }
}

/// A published version ready for decisions.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: i64,
    pub scope: PolicyScope,
    pub version: i64,
    pub effective_from: DateTime<Utc>,
    pub policy: EntryPolicy,
}

impl Published {
    /// `city v3`, `category:wet_market v1`, `venue:42 v2`: what each visit records.
    pub fn label(&self) -> String {
        match &self.scope {
            PolicyScope::City => format!("city v{}", self.version),
            other => format!("{}:{} v{}", other.kind(), other.value(), self.version),
        }
    }
}

/// The policy a decision used: its id (none for the built-in default) and label.
#[derive(Debug, Clone)]
pub struct Effective {
    pub id: Option<i64>,
    pub label: String,
    pub policy: EntryPolicy,
}

/// The published versions, numbered so a policy computed from an older set is never served.
#[derive(Default)]
struct Versions {
    generation: u64,
    published: Vec<Published>,
}

impl Versions {
    fn newest(&self, scope: &PolicyScope, now: DateTime<Utc>) -> Option<&Published> {
        self.published
            .iter()
            .filter(|p| &p.scope == scope && p.effective_from <= now)
            .max_by_key(|p| (p.version, p.id))
    }

    /// The span around `now` in which no version takes effect: a policy in force at `now` holds all through it.
    fn steady_span(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let times = self.published.iter().map(|p| p.effective_from);
        let from = times.clone().filter(|t| *t <= now).max().unwrap_or(DateTime::<Utc>::MIN_UTC);
        let until = times.filter(|t| *t > now).min().unwrap_or(DateTime::<Utc>::MAX_UTC);
        (from, until)
    }

    fn effective(&self, venue: VenueId, category: VenueCategory, now: DateTime<Utc>) -> Effective {
        let city = self.newest(&PolicyScope::City, now).map_or_else(
            || Effective { id: None, label: "default".into(), policy: EntryPolicy::default() },
            |p| Effective { id: Some(p.id), label: p.label(), policy: p.policy.clone() },
        );
        [PolicyScope::Category(category), PolicyScope::Venue(venue)]
            .iter()
            .filter_map(|scope| self.newest(scope, now))
            .fold(city, |above, own| {
                let label = own.label();
                if own.policy.at_least_as_strict_as(&above.policy).is_empty() {
                    Effective { id: Some(own.id), label, policy: own.policy.clone() }
                } else {
                    Effective {
                        id: Some(own.id),
                        label: format!("{label} ∧ {}", above.label),
                        policy: own.policy.strictest(&above.policy),
                    }
                }
            })
    }
}

/// A venue's policy in force, valid from `from` until `until` under the versions of `generation`.
struct InForce {
    generation: u64,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    effective: Arc<Effective>,
}

#[derive(Default)]
pub struct PolicyBook {
    versions: RwLock<Versions>,
    /// Per venue (and its category), the policy in force, computed at its first scan and kept until a
    /// publication takes effect or the versions are reloaded: a scan does not meet three policies again.
    in_force: RwLock<HashMap<(VenueId, VenueCategory), InForce>>,
}

impl PolicyBook {
    /// Reads every published version from the store (unreadable bodies are skipped with a warning).
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let records = store.policies().await?;
        let published: Vec<Published> = records.iter().filter_map(Self::parse).collect();
        let mut versions = self.versions.write().unwrap_or_else(|p| p.into_inner());
        versions.generation += 1;
        versions.published = published;
        Ok(())
    }

    fn parse(r: &PolicyRecord) -> Option<Published> {
        if r.status != PolicyStatus::Published {
            return None;
        }
        let policy = serde_json::from_str::<PolicyDoc>(&r.body).ok().and_then(|d| d.to_policy().ok());
        if policy.is_none() {
            tracing::warn!(policy = r.id, "a published policy cannot be read; ignored");
        }
        Some(Published {
            id: r.id,
            scope: r.scope.clone(),
            version: r.version,
            effective_from: r.effective_from?,
            policy: policy?,
        })
    }

    /// The policy in force at a venue: its own, its category's and the city's (else the built-in default),
    /// each newest in force, met into the strictest of them. A venue or category was only allowed to tighten
    /// when it published, but the city may tighten later; the meet keeps every venue at least as strict as
    /// the levels above it. The label names every level that changed the outcome (`venue:42 v2 ∧ city v3`).
    pub fn effective(&self, venue: VenueId, category: VenueCategory, now: DateTime<Utc>) -> Arc<Effective> {
        let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
        let key = (venue, category);
        {
            let in_force = self.in_force.read().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = in_force.get(&key)
                && known.generation == versions.generation
                && known.from <= now
                && now < known.until
            {
                return known.effective.clone();
            }
        }
        let effective = Arc::new(versions.effective(venue, category, now));
        let (from, until) = versions.steady_span(now);
        let entry = InForce { generation: versions.generation, from, until, effective: effective.clone() };
        self.in_force.write().unwrap_or_else(|p| p.into_inner()).insert(key, entry);
        effective
    }

    /// The policy a venue- or category-level draft is checked against when published: the strictest of the
    /// levels above it (a venue's category and the city; a category's city).
    pub fn base_for(
        &self,
        scope: &PolicyScope,
        category: Option<VenueCategory>,
        now: DateTime<Utc>,
    ) -> EntryPolicy {
        let versions = self.versions.read().unwrap_or_else(|p| p.into_inner());
        let city = versions.newest(&PolicyScope::City, now).map(|p| p.policy.clone()).unwrap_or_default();
        match (scope, category) {
            (PolicyScope::Venue(_), Some(c)) => match versions.newest(&PolicyScope::Category(c), now) {
                Some(category) => category.policy.strictest(&city),
                None => city,
            },
            _ => city,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 4, 29, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn version(id: i64, scope: PolicyScope, version: i64, from: i64, policy: EntryPolicy) -> Published {
        Published { id, scope, version, effective_from: at(from), policy }
    }

    #[test]
    fn the_policy_in_force_is_kept_until_a_version_takes_effect_or_the_book_reloads() {
        let book = PolicyBook::default();
        let tighter = EntryPolicy { temperature_max_c: 37.0, ..EntryPolicy::default() };
        book.versions.write().unwrap().published = vec![
            version(1, PolicyScope::City, 1, 0, EntryPolicy::default()),
            version(2, PolicyScope::City, 2, 24, tighter.clone()),
        ];
        let (venue, category) = (VenueId(7), VenueCategory::WetMarket);
        let first = book.effective(venue, category, at(1));
        assert_eq!(first.label, "city v1");
        assert!(Arc::ptr_eq(&first, &book.effective(venue, category, at(23))), "kept while nothing changes");
        let next_day = book.effective(venue, category, at(24));
        assert_eq!((next_day.label.as_str(), next_day.policy.temperature_max_c), ("city v2", 37.0));
        // A venue policy published since: a reload (a new generation) is seen at once.
        let mut versions = book.versions.write().unwrap();
        versions.generation += 1;
        let strict_venue = EntryPolicy { nat_max_age_hours: Some(24), ..EntryPolicy::default() };
        versions.published.push(version(3, PolicyScope::Venue(venue), 1, 25, strict_venue));
        drop(versions);
        let met = book.effective(venue, category, at(26));
        assert_eq!(met.label, "venue:7 v1 ∧ city v2");
        assert_eq!((met.policy.nat_max_age_hours, met.policy.temperature_max_c), (Some(24), 37.0));
        assert_eq!(book.effective(VenueId(8), category, at(26)).label, "city v2", "another venue: its own");
    }
}
