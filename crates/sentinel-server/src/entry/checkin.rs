//! One entry, whatever the channel: the person's live status and facts are read, the venue's policy
//! decides, and the visit is recorded (the caller's answer waits for the commit) with its alerts, which
//! then go to the live feed. The device API, the place-code page, proxy and manual registration all
//! come through here, so every channel decides and records the same way.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sentinel_core::entry::{Celsius, Channel, Decision, Readings, Subject, decide};
use sentinel_core::health::LiveStatus;
use sentinel_core::{DeviceId, PersonId};
use sentinel_store::{NewAlert, NewVisit, RecordedVisit, StoreError, Venue};

use super::AlertEvent;
use super::policy::Effective;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the policy said about a known person.
pub struct Assessment {
    pub decision: Decision,
    pub status: Arc<LiveStatus>,
    pub masked_name: String,
}

/// Decides for a known person at `now` under `policy`.
pub async fn assess(
    state: &AppState,
    person: PersonId,
    policy: &Effective,
    readings: Readings,
    channel: Channel,
    now: DateTime<Utc>,
) -> ApiResult<Assessment> {
    let status = state.status.status(&*state.store, person, now, state.tz).await?;
    let facts = state.facts.get(&*state.store, person).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("person"),
        other => other.into(),
    })?;
    let age = state.local(now).date_naive().years_since(facts.birth_date);
    let decision = decide(&policy.policy, Subject { status: &status, age }, readings, channel, now);
    Ok(Assessment { decision, status, masked_name: facts.masked_name })
}

/// A decided entry to record.
pub struct Entry<'a> {
    pub venue: &'a Venue,
    pub device: Option<DeviceId>,
    pub person: Option<PersonId>,
    pub channel: Channel,
    pub decision: &'a Decision,
    pub policy: &'a Effective,
    pub readings: Readings,
    /// Per device: a retry with the same key is the same visit.
    pub idempotency_key: Option<String>,
    /// The staff member or guardian who registered the person.
    pub registrar: Option<String>,
    pub at: DateTime<Utc>,
}

/// Records the visit and its alerts in one commit and, unless it was a retry, publishes the alerts.
pub async fn record(state: &AppState, entry: Entry<'_>) -> ApiResult<RecordedVisit> {
    let venue = entry.venue;
    let alerts: Vec<NewAlert> = entry
        .decision
        .alerts()
        .map(|r| NewAlert { kind: r.code().to_owned(), region_code: venue.region_code.clone() })
        .collect();
    let visit = NewVisit {
        person_id: entry.person,
        venue_id: venue.id,
        device_id: entry.device,
        channel: entry.channel.code().into(),
        entered_at: entry.at,
        outcome: entry.decision.outcome.code().into(),
        reasons: entry.decision.reasons().map(|r| r.code().to_owned()).collect(),
        policy_id: entry.policy.id,
        policy_version: entry.policy.label.clone(),
        temperature_c: entry.readings.temperature.map(Celsius::value),
        mask: entry.readings.mask,
        idempotency_key: entry.idempotency_key,
        registrar: entry.registrar,
        prompt: Some((entry.decision.prompt_zh.clone(), entry.decision.prompt_en.clone())),
        alerts: alerts.clone(),
    };
    let recorded = state.visits.record(visit).await?;
    if !recorded.duplicate {
        for (alert_id, alert) in recorded.alert_ids.iter().zip(&alerts) {
            state.alerts.publish(AlertEvent::raised(
                *alert_id,
                alert.kind.clone(),
                venue,
                entry.person.map(|p| p.0),
                recorded.visit_id,
                alert.region_code.clone(),
                entry.at,
            ));
        }
    }
    Ok(recorded)
}
