//! Venues (场所): create, list with filters, read, update, retire.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::{Permission, RegionCode, Scope, VenueCategory, VenueId};
use sentinel_store::{NewVenue, Venue, VenueFilter, VenueUpdate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::regions::parse_region;
use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueView {
    pub id: i64,
    pub name: String,
    pub category: &'static str,
    pub category_label_zh: &'static str,
    pub region_code: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<FixedOffset>,
}

impl VenueView {
    pub fn new(state: &AppState, v: Venue) -> Self {
        Self {
            id: v.id.0,
            name: v.name,
            category: v.category.code(),
            category_label_zh: v.category.label_zh(),
            region_code: v.region_code.to_string(),
            address: v.address,
            lat: v.lat,
            lon: v.lon,
            capacity: v.capacity,
            created_at: state.local(v.created_at),
            updated_at: state.local(v.updated_at),
        }
    }
}

pub fn parse_category(field: &str, raw: &str) -> ApiResult<VenueCategory> {
    VenueCategory::from_code(raw.trim()).ok_or_else(|| {
        ApiError::invalid(field, format!("未知的场所类别 {raw} / unknown venue category {raw}"))
    })
}

fn text(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("应为1–{max}个字符 / must be 1–{max} characters without control characters"),
        ));
    }
    Ok(t.to_owned())
}

fn coordinate(field: &str, value: Option<f64>, limit: f64) -> ApiResult<Option<f64>> {
    match value {
        Some(v) if !v.is_finite() || v.abs() > limit => {
            Err(ApiError::invalid(field, format!("坐标超出范围 / must lie within ±{limit}")))
        }
        other => Ok(other),
    }
}

fn capacity(value: Option<i64>) -> ApiResult<Option<i64>> {
    match value {
        Some(c) if !(0..=10_000_000).contains(&c) => {
            Err(ApiError::invalid("capacity", "容量无效 / capacity must be 0–10000000"))
        }
        other => Ok(other),
    }
}

/// Whether the caller's scope may hold a venue of this category in this region (for creating one).
fn scope_admits(scope: &Scope, category: VenueCategory, region: &RegionCode) -> bool {
    match scope {
        Scope::Venue(_) => false,
        other => other.covers_venue(VenueId(0), category, region),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VenueInput {
    pub name: String,
    /// A code from `/api/v1/venue-categories`.
    pub category: String,
    pub region_code: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/venues", tag = "registry", request_body = VenueInput,
    responses((status = 201, body = VenueView), (status = 422, body = crate::error::Problem)))]
pub async fn create_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<VenueInput>,
) -> ApiResult<(StatusCode, Json<VenueView>)> {
    caller.require(Permission::ManageVenues)?;
    let venue = NewVenue {
        name: text("name", &input.name, 100)?,
        category: parse_category("category", &input.category)?,
        region_code: parse_region("region_code", &input.region_code)?,
        address: text("address", &input.address, 200)?,
        lat: coordinate("lat", input.lat, 90.0)?,
        lon: coordinate("lon", input.lon, 180.0)?,
        capacity: capacity(input.capacity)?,
    };
    if !scope_admits(&caller.user.scope, venue.category, &venue.region_code) {
        return Err(ApiError::out_of_scope());
    }
    let created = state.store.create_venue(&venue, state.now()).await.map_err(|e| match e {
        sentinel_store::StoreError::Reference(_) => {
            ApiError::invalid("region_code", "区划不存在 / the region does not exist")
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(VenueView::new(&state, created))))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VenueQuery {
    /// Only venues in this region's subtree.
    pub region: Option<String>,
    /// A category code.
    pub category: Option<String>,
    /// Part of the name or address.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Venues in the caller's scope, by id, filtered.
#[utoipa::path(get, path = "/api/v1/venues", tag = "registry", params(VenueQuery),
    responses((status = 200, body = List<VenueView>)))]
pub async fn list_venues(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<VenueQuery>,
) -> ApiResult<Json<List<VenueView>>> {
    caller.require(Permission::ReadRegistry)?;
    let filter = VenueFilter {
        scope: Some(caller.user.scope.clone()),
        region: q.region.as_deref().map(|r| parse_region("region", r)).transpose()?,
        category: q.category.as_deref().map(|c| parse_category("category", c)).transpose()?,
        text: q.q,
    };
    let page = state.store.list_venues(&filter, page_request(q.cursor.as_deref(), q.limit)?).await?;
    Ok(Json(List::from_page(page, |v| VenueView::new(&state, v))))
}

pub async fn venue_in_scope(
    state: &AppState,
    caller: &Caller,
    permission: Permission,
    id: i64,
) -> ApiResult<Venue> {
    let venue = state.store.get_venue(VenueId(id)).await.map_err(|e| match e {
        sentinel_store::StoreError::NotFound => ApiError::not_found("venue"),
        other => other.into(),
    })?;
    caller.require_venue(permission, &venue)?;
    Ok(venue)
}

#[utoipa::path(get, path = "/api/v1/venues/{id}", tag = "registry",
    responses((status = 200, body = VenueView), (status = 404, body = crate::error::Problem)))]
pub async fn get_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<VenueView>> {
    let venue = venue_in_scope(&state, &caller, Permission::ReadRegistry, id).await?;
    Ok(Json(VenueView::new(&state, venue)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VenueChanges {
    pub name: Option<String>,
    pub category: Option<String>,
    pub region_code: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
}

/// Changes the given fields; the venue must stay within the caller's scope.
#[utoipa::path(patch, path = "/api/v1/venues/{id}", tag = "registry", request_body = VenueChanges,
    responses((status = 200, body = VenueView), (status = 422, body = crate::error::Problem)))]
pub async fn update_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<VenueChanges>,
) -> ApiResult<Json<VenueView>> {
    let current = venue_in_scope(&state, &caller, Permission::ManageVenues, id).await?;
    let update = VenueUpdate {
        name: input.name.as_deref().map(|n| text("name", n, 100)).transpose()?,
        category: input.category.as_deref().map(|c| parse_category("category", c)).transpose()?,
        region_code: input.region_code.as_deref().map(|r| parse_region("region_code", r)).transpose()?,
        address: input.address.as_deref().map(|a| text("address", a, 200)).transpose()?,
        lat: coordinate("lat", input.lat, 90.0)?,
        lon: coordinate("lon", input.lon, 180.0)?,
        capacity: capacity(input.capacity)?,
    };
    let category = update.category.unwrap_or(current.category);
    let region = update.region_code.clone().unwrap_or(current.region_code.clone());
    if !caller.user.scope.covers_venue(current.id, category, &region) {
        return Err(ApiError::out_of_scope());
    }
    let updated = state.store.update_venue(current.id, &update, state.now()).await.map_err(|e| match e {
        sentinel_store::StoreError::Reference(_) => {
            ApiError::invalid("region_code", "区划不存在 / the region does not exist")
        }
        other => other.into(),
    })?;
    state.devices.clear();
    if update.category.is_some() {
        // Default stays and minimum overlaps are per category: the next trace reads them again.
        state.trace_book.venue_edited();
    }
    Ok(Json(VenueView::new(&state, updated)))
}

/// Retires a venue; its past records stay.
#[utoipa::path(delete, path = "/api/v1/venues/{id}", tag = "registry",
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let venue = venue_in_scope(&state, &caller, Permission::ManageVenues, id).await?;
    state.store.delete_venue(venue.id, state.now()).await?;
    state.devices.clear();
    super::audit::record(&state, &caller, "venue.delete", Some(format!("venue:{}", venue.id)), None, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
