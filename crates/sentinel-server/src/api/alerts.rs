//! Alerts for grid workers: the list, acknowledge and resolve, and the live stream (SSE).

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, FixedOffset};
use futures_core::Stream;
use sentinel_core::{Permission, VenueId};
use sentinel_store::{Alert, AlertFilter, AlertStatus, StoreError};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, ToSchema};

use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, OptionalJson};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    /// The reason: code_red, code_yellow, fever, risk_itinerary, nat_expired, nat_missing, nat_positive,
    /// unvaccinated, …
    pub kind: String,
    pub visit_id: Option<i64>,
    pub venue_id: i64,
    pub person_id: Option<i64>,
    /// Where it was raised: the venue's region (its grid, for most venues), or an unvaccinated report's
    /// home community.
    pub region_code: String,
    /// open, acknowledged or resolved
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
    pub acknowledged_by: Option<String>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    /// Escalations so far: 0 when raised (heard in the venue's region, its grid for most venues); each one
    /// moves it a level up, grid → community → street → district (`RegionLevel::hears_alert`).
    pub level: u8,
    /// The region whose workers are asked to act now: `region_code` lifted one level per escalation.
    pub audience_region: String,
}

fn alert_view(state: &AppState, a: Alert) -> AlertView {
    AlertView {
        id: a.id,
        kind: a.kind,
        visit_id: a.visit_id,
        venue_id: a.venue_id.0,
        person_id: a.person_id.map(|p| p.0),
        region_code: a.region_code.to_string(),
        status: a.status.code(),
        created_at: state.local(a.created_at),
        acknowledged_by: a.acknowledged_by,
        resolved_by: a.resolved_by,
        note: a.note,
        level: a.level,
        audience_region: a.region_code.alert_audience(a.level).to_string(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertQuery {
    /// open, acknowledged or resolved
    pub status: Option<String>,
    pub venue_id: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Alerts in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "entry", params(AlertQuery), responses((status = 200, body = List<AlertView>)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<List<AlertView>>> {
    caller.require(Permission::ReadAlerts)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            AlertStatus::from_code(s)
                .ok_or_else(|| ApiError::invalid("status", "应为 open、acknowledged 或 resolved"))
        })
        .transpose()?;
    let filter =
        AlertFilter { scope: Some(caller.user.scope.clone()), status, venue: q.venue_id.map(VenueId) };
    let page = state.store.list_alerts(&filter, page_request(q.cursor.as_deref(), q.limit)?).await?;
    Ok(Json(List::from_page(page, |a| alert_view(&state, a))))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct NoteInput {
    /// What was done, e.g. `已联系本人，居家观察`.
    pub note: Option<String>,
}

async fn advance(
    state: &AppState,
    caller: &Caller,
    id: i64,
    to: AlertStatus,
    note: Option<String>,
) -> ApiResult<AlertView> {
    caller.require(Permission::HandleAlerts)?;
    let alert = state.store.get_alert(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("alert"),
        other => other.into(),
    })?;
    if !caller.user.scope.covers_region(&alert.region_code) && caller.user.scope != sentinel_core::Scope::All
    {
        return Err(ApiError::out_of_scope());
    }
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::invalid("note", "备注最多1000字 / note longer than 1000 characters"));
    }
    let done = state
        .store
        .advance_alert(id, to, &caller.user.username, note.as_deref(), state.now())
        .await
        .map_err(|e| match e {
        StoreError::NotFound => ApiError::conflict("status").with_detail(format!(
            "告警已是 {} / the alert is {} already",
            alert.status.code(),
            alert.status.code()
        )),
        other => other.into(),
    })?;
    Ok(alert_view(state, done))
}

/// Acknowledges an open alert (网格员已知悉).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "entry", request_body = NoteInput,
    responses((status = 200, body = AlertView), (status = 409, body = crate::error::Problem)))]
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(input): OptionalJson<NoteInput>,
) -> ApiResult<Json<AlertView>> {
    let note = input.and_then(|i| i.note);
    Ok(Json(advance(&state, &caller, id, AlertStatus::Acknowledged, note).await?))
}

/// Resolves an alert with a note (处置完毕).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "entry", request_body = NoteInput,
    responses((status = 200, body = AlertView), (status = 409, body = crate::error::Problem)))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(input): OptionalJson<NoteInput>,
) -> ApiResult<Json<AlertView>> {
    let note = input.and_then(|i| i.note);
    Ok(Json(advance(&state, &caller, id, AlertStatus::Resolved, note).await?))
}

/// Live alerts in the caller's scope as server-sent events (`event: alert`, JSON data).
#[utoipa::path(get, path = "/api/v1/alerts/stream", tag = "entry",
    responses((status = 200, content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    caller.require(Permission::ReadAlerts)?;
    let scope = caller.user.scope.clone();
    let events = BroadcastStream::new(state.alerts.subscribe()).filter_map(move |item| {
        let event = item.ok()?;
        if !event.visible_to(&scope) {
            return None;
        }
        let data = serde_json::to_string(&event).ok()?;
        Some(Ok(Event::default().event("alert").id(event.id.to_string()).data(data)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
