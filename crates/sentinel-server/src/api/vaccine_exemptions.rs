//! Medical exemptions from vaccination (医学原因暂缓/禁忌接种) recorded by the health authority: the gate's
//! vaccination check then neither reminds nor registers the person as unvaccinated while one covers the day.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sentinel_core::Permission;
use sentinel_core::health::{ExemptionReason, VaccineExemption};
use sentinel_store::NewVaccineExemption;
use serde::Deserialize;
use utoipa::ToSchema;

use super::health::{Stored, target, text};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::health::import::parse_date;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct VaccineExemptionInput {
    pub person_id: Option<i64>,
    pub id_number: Option<String>,
    /// `contraindication` (接种禁忌症) or `postponed` (暂缓接种). No diagnosis is kept.
    pub reason: String,
    /// The hospital or clinic that certified it.
    pub issued_by: String,
    /// YYYY-MM-DD, first day covered.
    pub from: String,
    /// YYYY-MM-DD, last day covered; absent for a permanent exemption.
    pub until: Option<String>,
}

/// Records a medical exemption from vaccination; re-sending the same certificate changes nothing.
#[utoipa::path(post, path = "/api/v1/health/vaccine-exemptions", tag = "health",
    request_body = VaccineExemptionInput,
    responses((status = 201, body = Stored), (status = 422, body = crate::error::Problem)))]
pub async fn add_vaccine_exemption(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<VaccineExemptionInput>,
) -> ApiResult<(StatusCode, Json<Stored>)> {
    caller.require(Permission::WriteHealth)?;
    let reason = ExemptionReason::from_code(&input.reason).ok_or_else(|| {
        ApiError::invalid(
            "reason",
            "应为 contraindication（禁忌症）或 postponed（暂缓接种） / must be contraindication or postponed",
        )
    })?;
    let issued_by = text("issued_by", &input.issued_by, 100)?;
    let from = parse_date(&input.from).map_err(|e| ApiError::invalid("from", e))?;
    let until =
        input.until.as_deref().map(parse_date).transpose().map_err(|e| ApiError::invalid("until", e))?;
    if until.is_some_and(|u| u < from) {
        return Err(ApiError::invalid("until", "截止日期早于起始日期 / until precedes from"));
    }
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let exemption = VaccineExemption { reason, issued_by, from, until };
    let stored = state
        .store
        .add_vaccine_exemptions(&[NewVaccineExemption { person_id, exemption }], state.now())
        .await?
        == 1;
    state.status.invalidate(person_id);
    super::audit::record(
        &state,
        &caller,
        "vaccine_exemption.add",
        Some(format!("person:{}", person_id.0)),
        None,
        Some(reason.code().into()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Stored { stored, person_id: person_id.0 })))
}
