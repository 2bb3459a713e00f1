//! `GET /api/v1/visits`: who entered where and when, within the caller's scope.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, FixedOffset};
use sentinel_core::{Permission, PersonId, VenueId};
use sentinel_store::{Visit, VisitFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::health::import::parse_time;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitView {
    pub id: i64,
    pub person_id: Option<i64>,
    pub venue_id: i64,
    pub device_id: Option<i64>,
    /// device_code, device_id_card, self_scan, paper_code, proxy or manual
    pub channel: String,
    #[schema(value_type = String, format = DateTime)]
    pub entered_at: DateTime<FixedOffset>,
    /// Recorded, or inferred from the category's default stay (see `left_at_inferred`).
    #[schema(value_type = String, format = DateTime)]
    pub left_at: DateTime<FixedOffset>,
    pub left_at_inferred: bool,
    /// pass, remind or deny
    pub outcome: String,
    pub reasons: Vec<String>,
    pub policy_id: Option<i64>,
    /// The policy in force, naming every level that shaped it (`venue:7 v2 ∧ city v3`).
    pub policy_version: Option<String>,
    pub temperature_c: Option<f32>,
    pub mask: Option<bool>,
    pub registrar: Option<String>,
}

pub fn visit_view(state: &AppState, v: Visit) -> VisitView {
    let inferred = v.entered_at + Duration::minutes(i64::from(v.category.default_stay_minutes()));
    VisitView {
        id: v.id,
        person_id: v.person_id.map(|p| p.0),
        venue_id: v.venue_id.0,
        device_id: v.device_id.map(|d| d.0),
        channel: v.channel,
        entered_at: state.local(v.entered_at),
        left_at: state.local(v.left_at.unwrap_or(inferred)),
        left_at_inferred: v.left_at.is_none(),
        outcome: v.outcome,
        reasons: v.reasons,
        policy_id: v.policy_id,
        policy_version: v.policy_version,
        temperature_c: v.temperature_c,
        mask: v.mask,
        registrar: v.registrar,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VisitQuery {
    pub venue_id: Option<i64>,
    pub person_id: Option<i64>,
    /// Entered at or after (RFC 3339 or `2024-04-29 14:00:00`).
    pub from: Option<String>,
    /// Entered before.
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Visits at the venues in the caller's scope, oldest first.
#[utoipa::path(get, path = "/api/v1/visits", tag = "entry", params(VisitQuery), responses((status = 200, body = List<VisitView>)))]
pub async fn list_visits(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<VisitQuery>,
) -> ApiResult<Json<List<VisitView>>> {
    caller.require(Permission::ReadVisits)?;
    let time = |field: &str, raw: &Option<String>| {
        raw.as_deref().map(|r| parse_time(r, state.tz).map_err(|e| ApiError::invalid(field, e))).transpose()
    };
    let filter = VisitFilter {
        scope: Some(caller.user.scope.clone()),
        venue: q.venue_id.map(VenueId),
        person: q.person_id.map(PersonId),
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
    };
    let page = state.store.list_visits(&filter, page_request(q.cursor.as_deref(), q.limit)?).await?;
    Ok(Json(List::from_page(page, |v| visit_view(&state, v))))
}
