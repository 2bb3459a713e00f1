//! Devices (数字哨兵, handheld verifiers, wall scanners) registered to venues.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::{DeviceKind, Permission, VenueId};
use sentinel_store::{Device, NewDevice, StoreError, VenueFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub venue_id: i64,
    /// `sentinel`, `handheld` or `wall_scanner`
    pub kind: &'static str,
    pub kind_label_zh: &'static str,
    pub serial: String,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
    /// Whether the device holds a working token (false once revoked, until a new one is issued).
    pub token_active: bool,
}

impl DeviceView {
    fn new(state: &AppState, d: Device) -> Self {
        Self {
            id: d.id.0,
            venue_id: d.venue_id.0,
            kind: d.kind.code(),
            kind_label_zh: d.kind.label_zh(),
            serial: d.serial,
            name: d.name,
            created_at: state.local(d.created_at),
            token_active: d.token_active,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeviceInput {
    pub venue_id: i64,
    /// `sentinel`, `handheld` or `wall_scanner`
    pub kind: String,
    /// The manufacturer's serial number, unique.
    pub serial: String,
    pub name: String,
}

/// Registers a device to a venue the caller manages.
#[utoipa::path(post, path = "/api/v1/devices", tag = "registry", request_body = DeviceInput,
    responses((status = 201, body = DeviceView), (status = 409, body = crate::error::Problem)))]
pub async fn create_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<DeviceInput>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    caller.require(Permission::ManageDevices)?;
    let kind = DeviceKind::parse(&input.kind).ok_or_else(|| {
        ApiError::invalid("kind", "设备类型应为 sentinel、handheld 或 wall_scanner / unknown device kind")
    })?;
    let serial = input.serial.trim();
    if serial.is_empty()
        || serial.len() > 64
        || !serial.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::invalid(
            "serial",
            "序列号应为1–64位字母、数字或-_. / serial must be 1–64 of A-Z a-z 0-9 - _ .",
        ));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "名称应为1–100个字符 / name must be 1–100 characters"));
    }
    let venue = state.store.get_venue(VenueId(input.venue_id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::invalid("venue_id", "场所不存在 / no such venue"),
        other => other.into(),
    })?;
    caller.require_venue(Permission::ManageDevices, &venue)?;
    let device = NewDevice { venue_id: venue.id, kind, serial: serial.to_owned(), name: name.to_owned() };
    let created = state.store.create_device(&device, state.now()).await?;
    Ok((StatusCode::CREATED, Json(DeviceView::new(&state, created))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VenueDeviceInput {
    pub name: String,
    /// `sentinel`, `handheld` or `wall_scanner`
    pub kind: String,
    /// The manufacturer's serial number; generated when absent.
    pub serial: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDevice {
    #[serde(flatten)]
    pub device: DeviceView,
    /// Bearer token for the device API, shown once (only its hash is stored).
    pub token: String,
}

/// Registers a device at a venue and returns its token (shown once).
#[utoipa::path(post, path = "/api/v1/venues/{id}/devices", tag = "registry", request_body = VenueDeviceInput,
    responses((status = 201, body = RegisteredDevice), (status = 403, body = crate::error::Problem)))]
pub async fn register_at_venue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(venue_id): ApiPath<i64>,
    ApiJson(input): ApiJson<VenueDeviceInput>,
) -> ApiResult<(StatusCode, Json<RegisteredDevice>)> {
    let serial = input.serial.unwrap_or_else(|| {
        let (random, _) = crate::auth::new_token();
        format!("V{venue_id}-{}", &random[4..14]).replace(['_', '-'], "X")
    });
    let device = DeviceInput { venue_id, kind: input.kind, serial, name: input.name };
    let (_, Json(view)) = create_device(State(state.clone()), caller.clone(), ApiJson(device)).await?;
    let (token, hash) = crate::auth::new_device_token();
    state.store.set_device_token(sentinel_core::DeviceId(view.id), Some(hash.as_slice())).await?;
    let view = DeviceView { token_active: true, ..view };
    super::audit::record(&state, &caller, "device.register", Some(format!("device:{}", view.id)), None, None)
        .await?;
    Ok((StatusCode::CREATED, Json(RegisteredDevice { device: view, token })))
}

/// The device `id` if the caller may manage its venue's devices.
async fn managed_device(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Device> {
    let device = state.store.get_device(sentinel_core::DeviceId(id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("device"),
        other => other.into(),
    })?;
    super::venues::venue_in_scope(state, caller, Permission::ManageDevices, device.venue_id.0).await?;
    Ok(device)
}

/// Replaces a device's token (a lost or stolen device); the old token stops working at once.
#[utoipa::path(post, path = "/api/v1/devices/{id}/token", tag = "registry",
    responses((status = 200, body = RegisteredDevice), (status = 404, body = crate::error::Problem)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RegisteredDevice>> {
    let mut device = managed_device(&state, &caller, id).await?;
    let (token, hash) = crate::auth::new_device_token();
    state.store.set_device_token(device.id, Some(hash.as_slice())).await?;
    state.devices.clear();
    super::audit::record(&state, &caller, "device.token", Some(format!("device:{id}")), None, None).await?;
    device.token_active = true;
    Ok(Json(RegisteredDevice { device: DeviceView::new(&state, device), token }))
}

/// Revokes a device's token (a device taken out of service, or lost until it is found): its scans are
/// refused with 401 at once; `POST …/token` issues a new one.
#[utoipa::path(delete, path = "/api/v1/devices/{id}/token", tag = "registry",
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let device = managed_device(&state, &caller, id).await?;
    state.store.set_device_token(device.id, None).await?;
    // The cache of authenticated tokens must not let the revoked one through until it expires.
    state.devices.clear();
    super::audit::record(&state, &caller, "device.revoke", Some(format!("device:{id}")), None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeviceQuery {
    pub venue_id: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Devices of the venues in the caller's scope.
#[utoipa::path(get, path = "/api/v1/devices", tag = "registry", params(DeviceQuery),
    responses((status = 200, body = List<DeviceView>)))]
pub async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> ApiResult<Json<List<DeviceView>>> {
    caller.require(Permission::ReadRegistry)?;
    let filter = VenueFilter { scope: Some(caller.user.scope.clone()), ..Default::default() };
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let devices = state.store.list_devices(&filter, q.venue_id.map(VenueId), page).await?;
    Ok(Json(List::from_page(devices, |d| DeviceView::new(&state, d))))
}
