//! Regions (GB/T 2260 and below) and venue categories.

use axum::Json;
use axum::extract::State;
use sentinel_core::venue::EntryMode;
use sentinel_core::{Permission, RegionCode, VenueCategory};
use sentinel_store::{Region, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::List;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    pub code: String,
    pub name_zh: String,
    pub name_en: Option<String>,
    /// province, city, district, street, community or grid
    pub level: &'static str,
    pub parent: Option<String>,
}

impl From<Region> for RegionView {
    fn from(r: Region) -> Self {
        Self {
            level: r.code.level().code(),
            parent: r.code.parent().map(|p| p.to_string()),
            code: r.code.to_string(),
            name_zh: r.name_zh,
            name_en: r.name_en,
        }
    }
}

pub fn parse_region(field: &str, raw: &str) -> ApiResult<RegionCode> {
    RegionCode::parse(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RegionQuery {
    /// Children of this region; without it, the top of the tree.
    pub parent: Option<String>,
}

/// Lists the children of a region (the whole level fits one page).
#[utoipa::path(get, path = "/api/v1/regions", tag = "registry", params(RegionQuery),
    responses((status = 200, body = List<RegionView>)))]
pub async fn list_regions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RegionQuery>,
) -> ApiResult<Json<List<RegionView>>> {
    caller.require(Permission::ReadRegistry)?;
    let parent = q.parent.as_deref().map(|p| parse_region("parent", p)).transpose()?;
    let regions = state.store.list_regions(parent.as_ref()).await?;
    Ok(Json(List::all(regions.into_iter().map(RegionView::from).collect())))
}

#[utoipa::path(get, path = "/api/v1/regions/{code}", tag = "registry",
    responses((status = 200, body = RegionView), (status = 404, body = crate::error::Problem)))]
pub async fn get_region(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<RegionView>> {
    caller.require(Permission::ReadRegistry)?;
    let code = RegionCode::parse(&code).map_err(|_| ApiError::not_found("region"))?;
    Ok(Json(state.store.get_region(&code).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegionInput {
    pub code: String,
    pub name_zh: String,
    pub name_en: Option<String>,
}

/// Adds or renames a region; its parent must exist (a province needs none).
#[utoipa::path(post, path = "/api/v1/regions", tag = "registry", request_body = RegionInput,
    responses((status = 200, body = RegionView), (status = 422, body = crate::error::Problem)))]
pub async fn upsert_region(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<RegionInput>,
) -> ApiResult<Json<RegionView>> {
    let code = parse_region("code", &input.code)?;
    caller.require_region(Permission::ManageRegions, &code)?;
    let name = input.name_zh.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name_zh", "名称应为1–100个字符 / name must be 1–100 characters"));
    }
    if let Some(parent) = code.parent().filter(|_| code.level() > sentinel_core::RegionLevel::Province) {
        match state.store.get_region(&parent).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    "code",
                    format!("上级区划 {parent} 不存在 / parent region {parent} does not exist"),
                ));
            }
            other => {
                other?;
            }
        }
    }
    let region =
        Region { code, name_zh: name.to_owned(), name_en: input.name_en.filter(|n| !n.trim().is_empty()) };
    state.store.upsert_regions(std::slice::from_ref(&region)).await?;
    Ok(Json(region.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentView {
    pub code: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub code: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
    /// 行业主管部门
    pub department: DepartmentView,
    /// `device`: must run scanning devices (通告第二条); `place_code`: posts a place code (第三条).
    pub entry_mode: &'static str,
    /// Minutes a visit lasts when nobody checks out.
    pub default_stay_minutes: u16,
}

impl From<VenueCategory> for CategoryView {
    fn from(c: VenueCategory) -> Self {
        let d = c.department();
        Self {
            code: c.code(),
            label_zh: c.label_zh(),
            label_en: c.label_en(),
            department: DepartmentView { code: d.code, label_zh: d.label_zh, label_en: d.label_en },
            entry_mode: match c.entry_mode() {
                EntryMode::Device => "device",
                EntryMode::PlaceCode => "place_code",
            },
            default_stay_minutes: c.default_stay_minutes(),
        }
    }
}

/// The venue categories of the notice and beyond.
#[utoipa::path(get, path = "/api/v1/venue-categories", tag = "registry",
    responses((status = 200, body = List<CategoryView>)))]
pub async fn list_categories(caller: Caller) -> ApiResult<Json<List<CategoryView>>> {
    caller.require(Permission::ReadRegistry)?;
    Ok(Json(List::all(VenueCategory::ALL.iter().copied().map(CategoryView::from).collect())))
}
