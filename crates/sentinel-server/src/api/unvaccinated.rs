//! 未接种登记: venue staff take an unvaccinated person's details; the report reaches the venue category's
//! supervising department and the person's home community (an `unvaccinated_report` alert each sees).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::masking::mask_address;
use sentinel_core::{Permission, PersonName, PhoneNumber, RegionCode, VenueId};
use sentinel_store::{NewUnvaccinated, StoreError, Unvaccinated};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::persons::parse_id_number;
use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct UnvaccinatedInput {
    /// When the person is registered (links the report to them).
    pub id_number: Option<String>,
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Home community or grid: it receives the report.
    pub region_code: String,
    /// 未接种原因
    pub reason: String,
    /// Unique per registration on this venue (the tablet's own id for it): sent again, the same registration
    /// comes back (200) and nothing is reported twice.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnvaccinatedView {
    pub id: i64,
    pub venue_id: i64,
    pub person_id: Option<i64>,
    /// Masked.
    pub name: String,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub home_region: String,
    pub reason: String,
    pub registrar: String,
    /// The report's alert.
    pub alert_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
}

/// A registration as `caller` may see it: the link to a person on record only for callers whose scope
/// covers that person's home, so the staff at a door cannot learn whether an ID number is on record.
fn view(state: &AppState, caller: &Caller, u: Unvaccinated) -> UnvaccinatedView {
    UnvaccinatedView {
        id: u.id,
        venue_id: u.venue_id.0,
        person_id: u.person_id.filter(|_| caller.user.scope.covers_region(&u.home_region)).map(|p| p.0),
        name: PersonName::parse(&u.name).map(|n| n.masked()).unwrap_or_else(|_| "*".into()),
        phone: u
            .phone
            .as_deref()
            .map(|p| PhoneNumber::parse(p).map(|p| p.masked()).unwrap_or_else(|_| "****".into())),
        address: u.address.as_deref().map(mask_address),
        home_region: u.home_region.to_string(),
        reason: u.reason,
        registrar: u.registrar,
        alert_id: u.alert_id,
        created_at: state.local(u.created_at),
    }
}

/// Records an unvaccinated person's details at a venue and reports them.
#[utoipa::path(post, path = "/api/v1/venues/{id}/unvaccinated", tag = "entry", request_body = UnvaccinatedInput,
    responses((status = 201, body = UnvaccinatedView), (status = 200, description = "the same idempotency key again: the earlier registration", body = UnvaccinatedView),
              (status = 422, body = crate::error::Problem)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<UnvaccinatedInput>,
) -> ApiResult<(StatusCode, Json<UnvaccinatedView>)> {
    let (view, duplicate) = register_at(&state, &caller, id, input).await?;
    Ok((if duplicate { StatusCode::OK } else { StatusCode::CREATED }, Json(view)))
}

/// Validates, stores and reports one registration (the API and the staff page); `true` when the
/// idempotency key named an earlier registration, which is returned instead.
pub async fn register_at(
    state: &AppState,
    caller: &Caller,
    id: i64,
    input: UnvaccinatedInput,
) -> ApiResult<(UnvaccinatedView, bool)> {
    let venue = state.store.get_venue(VenueId(id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("venue"),
        other => other.into(),
    })?;
    caller.require_venue(Permission::RegisterUnvaccinated, &venue)?;
    let name = PersonName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let phone = input
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| PhoneNumber::parse(p).map_err(|e| ApiError::invalid("phone", e.to_string())))
        .transpose()?;
    let typed_region =
        RegionCode::parse(&input.region_code).map_err(|e| ApiError::invalid("region_code", e.to_string()))?;
    let idempotency_key = input.idempotency_key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
    if idempotency_key.as_ref().is_some_and(|k| k.chars().count() > 100) {
        return Err(ApiError::invalid("idempotency_key", "最多100个字符 / at most 100 characters"));
    }
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid("reason", "原因应为1–200个字符 / reason must be 1–200 characters"));
    }
    let address = input.address.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if address.as_ref().is_some_and(|a| a.chars().count() > 200) {
        return Err(ApiError::invalid("address", "地址最多200个字符 / address longer than 200 characters"));
    }
    let on_record = match input.id_number.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(raw) => state.store.locate_person(&parse_id_number(state, "id_number", raw)?).await?,
        None => None,
    };
    // A person on record is reported to the home the registry knows, not the one typed at the door.
    let (person_id, home_region) = match on_record {
        Some((id, home)) => (Some(id), home),
        None => (None, typed_region),
    };

    let registration = NewUnvaccinated {
        venue_id: venue.id,
        person_id,
        name: name.as_str().to_owned(),
        phone: phone.map(|p| p.as_str().to_owned()),
        address,
        home_region,
        reason: reason.to_owned(),
        registrar: caller.user.username.clone(),
        idempotency_key,
    };
    let (stored, duplicate) = state.store.register_unvaccinated(&registration, state.now()).await?;
    if duplicate {
        return Ok((view(state, caller, stored), true));
    }
    // The report is an alert like a gate's: the live streams of the home community and the department hear it.
    if let Some(alert_id) = stored.alert_id {
        let alert = state.store.get_alert(alert_id).await?;
        state.alerts.publish(crate::entry::AlertEvent::new(&alert, &venue));
    }
    super::audit::record(
        state,
        caller,
        "unvaccinated.register",
        Some(format!("venue:{}", venue.id)),
        None,
        Some(format!("registration {}", stored.id)),
    )
    .await?;
    Ok((view(state, caller, stored), false))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UnvaccinatedQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Registrations the caller's scope receives (home community, venue region, or the category's department); masked.
#[utoipa::path(get, path = "/api/v1/unvaccinated", tag = "entry", params(UnvaccinatedQuery),
    responses((status = 200, body = List<UnvaccinatedView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UnvaccinatedQuery>,
) -> ApiResult<Json<List<UnvaccinatedView>>> {
    caller.require(Permission::ReadAlerts)?;
    let page = state
        .store
        .list_unvaccinated(&caller.user.scope, page_request(q.cursor.as_deref(), q.limit)?)
        .await?;
    Ok(Json(List::from_page(page, |u| view(&state, &caller, u))))
}
