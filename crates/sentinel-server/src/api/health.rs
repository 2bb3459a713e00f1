//! The health registry API: code assignments (赋码) with reasons, expiry and history; appeals (申诉);
//! NAT results, vaccinations and itineraries from the authority; risk areas from the command centre;
//! and a person's live status.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::health::{AssignmentSource, Colour, NatKind, NatOutcome, NatResult, RiskArea, RiskLevel};
use sentinel_core::{Permission, PersonId, RegionCode};
use sentinel_store::{
    Appeal, AssignmentRecord, NewAssignment, NewItinerary, NewNatResult, NewRiskArea, NewVaccination,
    StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::credentials::person_in_scope;
use super::persons::parse_id_number;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::health::import::{parse_date, parse_time};
use crate::state::AppState;

pub(super) fn text(field: &str, raw: &str, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::invalid(field, format!("应为1–{max}个字符 / must be 1–{max} characters")));
    }
    Ok(t.to_owned())
}

fn time(state: &AppState, field: &str, raw: &str) -> ApiResult<DateTime<chrono::Utc>> {
    parse_time(raw, state.tz).map_err(|e| ApiError::invalid(field, e))
}

fn not_future(state: &AppState, field: &str, t: DateTime<chrono::Utc>) -> ApiResult<()> {
    if t > state.now() + chrono::Duration::minutes(5) {
        return Err(ApiError::invalid(field, "时间在未来 / lies in the future"));
    }
    Ok(())
}

/// The person a record is for, by `person_id` or `id_number`, checked against the caller's scope.
pub(super) async fn target(
    state: &AppState,
    caller: &Caller,
    person_id: Option<i64>,
    id_number: Option<&str>,
) -> ApiResult<PersonId> {
    let id = match (person_id, id_number) {
        (Some(id), _) => id,
        (None, Some(raw)) => {
            let number = parse_id_number(state, "id_number", raw)?;
            let unknown = || ApiError::invalid("id_number", "人员未登记 / no person with this ID number");
            let (id, home) = state.store.locate_person(&number).await?.ok_or_else(unknown)?;
            // Outside the caller's scope reads as unknown: an ID number must not be probed.
            if !caller.user.scope.covers_region(&home) {
                return Err(unknown());
            }
            id.0
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "person_id",
                "需要 person_id 或 id_number / person_id or id_number is required",
            ));
        }
    };
    Ok(person_in_scope(state, caller, Permission::WriteHealth, id).await?.id)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: i64,
    pub person_id: i64,
    pub colour: &'static str,
    pub colour_label_zh: &'static str,
    pub reason: String,
    /// authority, tracing or manual
    pub source: &'static str,
    pub set_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<FixedOffset>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_until: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<DateTime<FixedOffset>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

fn assignment_view(state: &AppState, r: AssignmentRecord) -> AssignmentView {
    let a = r.assignment;
    AssignmentView {
        id: a.id,
        person_id: r.person_id.0,
        colour: a.colour.code(),
        colour_label_zh: a.colour.label_zh(),
        reason: a.reason,
        source: a.source.code(),
        set_by: a.set_by,
        valid_from: state.local(a.valid_from),
        valid_until: a.valid_until.map(|t| state.local(t)),
        lifted_at: a.lifted_at.map(|t| state.local(t)),
        lifted_by: r.lifted_by,
        lift_reason: r.lift_reason,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignmentInput {
    pub person_id: Option<i64>,
    pub id_number: Option<String>,
    /// green, yellow or red
    pub colour: String,
    /// The legal basis, e.g. a notice number or a case id.
    pub reason: String,
    /// When the colour ends (returning the person to the colour beneath); none: until lifted.
    pub valid_until: Option<String>,
    /// When it starts (default: now).
    pub valid_from: Option<String>,
    /// authority (default for feeds), tracing or manual
    pub source: Option<String>,
}

/// Assigns a code colour with its reason, source and expiry (赋码).
#[utoipa::path(post, path = "/api/v1/health/code-assignments", tag = "health", request_body = AssignmentInput,
    responses((status = 201, body = AssignmentView), (status = 422, body = crate::error::Problem)))]
pub async fn create_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<AssignmentInput>,
) -> ApiResult<(StatusCode, Json<AssignmentView>)> {
    caller.require(Permission::WriteHealth)?;
    let colour = Colour::from_code(input.colour.trim()).ok_or_else(|| {
        ApiError::invalid("colour", "颜色应为 green、yellow 或 red / colour must be green, yellow or red")
    })?;
    let reason = text("reason", &input.reason, 200)?;
    let source = match input.source.as_deref() {
        None => AssignmentSource::Authority,
        Some(s) => AssignmentSource::from_code(s.trim()).ok_or_else(|| {
            ApiError::invalid("source", "来源应为 authority、tracing 或 manual / unknown source")
        })?,
    };
    let now = state.now();
    let valid_from = match input.valid_from.as_deref() {
        Some(raw) => time(&state, "valid_from", raw)?,
        None => now,
    };
    let valid_until = input.valid_until.as_deref().map(|raw| time(&state, "valid_until", raw)).transpose()?;
    if valid_until.is_some_and(|u| u <= valid_from) {
        return Err(ApiError::invalid("valid_until", "结束时间应晚于开始时间 / must follow valid_from"));
    }
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let new = NewAssignment {
        person_id,
        colour,
        reason,
        source,
        set_by: caller.user.username.clone(),
        valid_from,
        valid_until,
    };
    let record = state.store.add_assignment(&new, now).await?;
    state.status.invalidate(person_id);
    let detail = Some(format!("{} {}", colour.code(), new.reason));
    super::audit::record(&state, &caller, "health.assign", Some(format!("person:{person_id}")), None, detail)
        .await?;
    Ok((StatusCode::CREATED, Json(assignment_view(&state, record))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReasonInput {
    pub reason: String,
}

/// Ends an assignment early (an authority correction).
#[utoipa::path(post, path = "/api/v1/health/code-assignments/{id}/lift", tag = "health", request_body = ReasonInput,
    responses((status = 200, body = AssignmentView), (status = 404, body = crate::error::Problem)))]
pub async fn lift_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ReasonInput>,
) -> ApiResult<Json<AssignmentView>> {
    let current = assignment_in_scope(&state, &caller, Permission::WriteHealth, id).await?;
    let reason = text("reason", &input.reason, 200)?;
    let lifted =
        state.store.lift_assignment(id, state.now(), &caller.user.username, &reason).await.map_err(|e| {
            match e {
                StoreError::NotFound => ApiError::conflict("id").with_detail("已解除 / lifted already"),
                other => other.into(),
            }
        })?;
    state.status.invalidate(current.person_id);
    super::audit::record(
        &state,
        &caller,
        "health.lift",
        Some(format!("person:{}", current.person_id)),
        None,
        Some(reason),
    )
    .await?;
    Ok(Json(assignment_view(&state, lifted)))
}

async fn assignment_in_scope(
    state: &AppState,
    caller: &Caller,
    permission: Permission,
    id: i64,
) -> ApiResult<AssignmentRecord> {
    let record = state.store.get_assignment(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("code assignment"),
        other => other.into(),
    })?;
    person_in_scope(state, caller, permission, record.person_id.0).await?;
    Ok(record)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppealView {
    pub id: i64,
    pub assignment_id: i64,
    pub person_id: i64,
    pub filed_by: String,
    pub statement: String,
    #[schema(value_type = String, format = DateTime)]
    pub filed_at: DateTime<FixedOffset>,
    /// pending, upheld or rejected
    pub status: &'static str,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<DateTime<FixedOffset>>,
}

fn appeal_view(state: &AppState, a: Appeal) -> AppealView {
    AppealView {
        id: a.id,
        assignment_id: a.assignment_id,
        person_id: a.person_id.0,
        filed_by: a.filed_by,
        statement: a.statement,
        filed_at: state.local(a.filed_at),
        status: a.status.code(),
        decided_by: a.decided_by,
        decision_note: a.decision_note,
        decided_at: a.decided_at.map(|t| state.local(t)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AppealInput {
    /// What the person says (申诉理由).
    pub statement: String,
}

/// Files an appeal against an assignment, for the person or on their behalf.
#[utoipa::path(post, path = "/api/v1/health/code-assignments/{id}/appeals", tag = "health", request_body = AppealInput,
    responses((status = 201, body = AppealView)))]
pub async fn file_appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<AppealInput>,
) -> ApiResult<(StatusCode, Json<AppealView>)> {
    let assignment = assignment_in_scope(&state, &caller, Permission::ReadPersons, id).await?;
    let statement = text("statement", &input.statement, 1000)?;
    let appeal = state.store.file_appeal(id, &caller.user.username, &statement, state.now()).await?;
    let subject = Some(format!("person:{}", assignment.person_id));
    super::audit::record(
        &state,
        &caller,
        "health.appeal.file",
        subject,
        None,
        Some(format!("assignment {id}")),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(appeal_view(&state, appeal))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionInput {
    /// true: the appeal succeeds and the assignment is lifted.
    pub upheld: bool,
    pub note: String,
}

/// Decides a pending appeal.
#[utoipa::path(post, path = "/api/v1/appeals/{id}/decision", tag = "health", request_body = DecisionInput,
    responses((status = 200, body = AppealView), (status = 404, body = crate::error::Problem)))]
pub async fn decide_appeal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> ApiResult<Json<AppealView>> {
    caller.require(Permission::DecideAppeals)?;
    let pending = state.store.get_appeal(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("appeal"),
        other => other.into(),
    })?;
    person_in_scope(&state, &caller, Permission::DecideAppeals, pending.person_id.0).await?;
    let note = text("note", &input.note, 1000)?;
    let appeal = state
        .store
        .decide_appeal(id, input.upheld, &caller.user.username, &note, state.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("pending appeal"),
            other => other.into(),
        })?;
    state.status.invalidate(appeal.person_id);
    let subject = Some(format!("person:{}", appeal.person_id));
    let detail = Some(format!("appeal {id} {}", appeal.status.code()));
    super::audit::record(&state, &caller, "health.appeal.decide", subject, None, detail).await?;
    Ok(Json(appeal_view(&state, appeal)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NatInput {
    pub person_id: Option<i64>,
    pub id_number: Option<String>,
    pub sampled_at: String,
    pub reported_at: String,
    /// negative or positive
    pub result: String,
    /// pcr or antigen
    pub kind: String,
    pub lab: Option<String>,
    /// The sender's record id: sending it again changes nothing.
    pub source_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stored {
    /// false when the same record was stored before.
    pub stored: bool,
    pub person_id: i64,
}

/// Records a NAT (核酸) or antigen result.
#[utoipa::path(post, path = "/api/v1/health/nat-results", tag = "health", request_body = NatInput,
    responses((status = 201, body = Stored), (status = 422, body = crate::error::Problem)))]
pub async fn add_nat(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<NatInput>,
) -> ApiResult<(StatusCode, Json<Stored>)> {
    caller.require(Permission::WriteHealth)?;
    let sampled_at = time(&state, "sampled_at", &input.sampled_at)?;
    let reported_at = time(&state, "reported_at", &input.reported_at)?;
    not_future(&state, "sampled_at", sampled_at)?;
    not_future(&state, "reported_at", reported_at)?;
    if reported_at < sampled_at {
        return Err(ApiError::invalid("reported_at", "报告时间早于采样时间 / reported before sampled"));
    }
    let outcome = NatOutcome::from_code(input.result.trim())
        .ok_or_else(|| ApiError::invalid("result", "结果应为 negative 或 positive"))?;
    let kind = NatKind::from_code(input.kind.trim())
        .ok_or_else(|| ApiError::invalid("kind", "类型应为 pcr 或 antigen"))?;
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let lab = input.lab.map(|l| text("lab", &l, 100)).transpose()?;
    let source_id = input.source_id.map(|s| text("source_id", &s, 64)).transpose()?;
    let record = NewNatResult { person_id, sampled_at, reported_at, outcome, kind, lab, source_id };
    let stored = state.store.add_nat_results(&[record], state.now()).await? == 1;
    state.status.invalidate(person_id);
    Ok((StatusCode::CREATED, Json(Stored { stored, person_id: person_id.0 })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VaccinationInput {
    pub person_id: Option<i64>,
    pub id_number: Option<String>,
    /// 1–10
    pub dose: u8,
    /// YYYY-MM-DD
    pub date: String,
    pub product: String,
    pub manufacturer: String,
}

/// Records a vaccination dose.
#[utoipa::path(post, path = "/api/v1/health/vaccinations", tag = "health", request_body = VaccinationInput,
    responses((status = 201, body = Stored), (status = 422, body = crate::error::Problem)))]
pub async fn add_vaccination(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<VaccinationInput>,
) -> ApiResult<(StatusCode, Json<Stored>)> {
    caller.require(Permission::WriteHealth)?;
    if !(1..=10).contains(&input.dose) {
        return Err(ApiError::invalid("dose", "剂次应为1–10 / dose must be 1–10"));
    }
    let date = parse_date(&input.date).map_err(|e| ApiError::invalid("date", e))?;
    if date > state.local(state.now()).date_naive() {
        return Err(ApiError::invalid("date", "接种日期在未来 / lies in the future"));
    }
    let product = text("product", &input.product, 100)?;
    let manufacturer = text("manufacturer", &input.manufacturer, 100)?;
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let v = NewVaccination { person_id, dose: input.dose, date, product, manufacturer };
    let stored = state.store.add_vaccinations(&[v], state.now()).await? == 1;
    state.status.invalidate(person_id);
    Ok((StatusCode::CREATED, Json(Stored { stored, person_id: person_id.0 })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ItineraryInput {
    pub person_id: Option<i64>,
    pub id_number: Option<String>,
    /// GB/T 2260 code (or finer) of the place stayed in.
    pub region_code: String,
    /// YYYY-MM-DD, inclusive.
    pub from: String,
    pub to: String,
}

/// Records a stay in a region (行程).
#[utoipa::path(post, path = "/api/v1/health/itineraries", tag = "health", request_body = ItineraryInput,
    responses((status = 201, body = Stored), (status = 422, body = crate::error::Problem)))]
pub async fn add_itinerary(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ItineraryInput>,
) -> ApiResult<(StatusCode, Json<Stored>)> {
    caller.require(Permission::WriteHealth)?;
    let region =
        RegionCode::parse(&input.region_code).map_err(|e| ApiError::invalid("region_code", e.to_string()))?;
    let from = parse_date(&input.from).map_err(|e| ApiError::invalid("from", e))?;
    let to = parse_date(&input.to).map_err(|e| ApiError::invalid("to", e))?;
    if from > to || to > state.local(state.now()).date_naive() {
        return Err(ApiError::invalid("to", "日期区间无效 / to must not precede from nor lie in the future"));
    }
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let stored =
        state.store.add_itineraries(&[NewItinerary { person_id, region, from, to }], state.now()).await? == 1;
    state.status.invalidate(person_id);
    Ok((StatusCode::CREATED, Json(Stored { stored, person_id: person_id.0 })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskAreaView {
    pub id: i64,
    pub region_code: String,
    pub name: String,
    /// medium or high
    pub level: &'static str,
    pub level_label_zh: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub effective_from: DateTime<FixedOffset>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub effective_to: Option<DateTime<FixedOffset>>,
}

fn risk_area_view(state: &AppState, a: RiskArea) -> RiskAreaView {
    RiskAreaView {
        id: a.id,
        region_code: a.region.to_string(),
        name: a.name,
        level: a.level.code(),
        level_label_zh: a.level.label_zh(),
        effective_from: state.local(a.effective_from),
        effective_to: a.effective_to.map(|t| state.local(t)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RiskAreaInput {
    pub region_code: String,
    pub name: String,
    /// medium or high
    pub level: String,
    /// Default: now.
    pub effective_from: Option<String>,
    pub effective_to: Option<String>,
}

async fn reload_risk_areas(state: &AppState) -> ApiResult<()> {
    state.status.set_risk_areas(state.store.risk_areas(Some(state.now())).await?);
    Ok(())
}

/// Publishes a medium- or high-risk area (中高风险地区).
#[utoipa::path(post, path = "/api/v1/risk-areas", tag = "health", request_body = RiskAreaInput,
    responses((status = 201, body = RiskAreaView), (status = 422, body = crate::error::Problem)))]
pub async fn create_risk_area(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<RiskAreaInput>,
) -> ApiResult<(StatusCode, Json<RiskAreaView>)> {
    caller.require(Permission::ManageRiskAreas)?;
    let region =
        RegionCode::parse(&input.region_code).map_err(|e| ApiError::invalid("region_code", e.to_string()))?;
    let level = RiskLevel::from_code(input.level.trim())
        .ok_or_else(|| ApiError::invalid("level", "等级应为 medium 或 high"))?;
    let now = state.now();
    let effective_from = input
        .effective_from
        .as_deref()
        .map(|r| time(&state, "effective_from", r))
        .transpose()?
        .unwrap_or(now);
    let effective_to = input.effective_to.as_deref().map(|r| time(&state, "effective_to", r)).transpose()?;
    if effective_to.is_some_and(|t| t <= effective_from) {
        return Err(ApiError::invalid("effective_to", "结束时间应晚于开始时间 / must follow effective_from"));
    }
    let area = NewRiskArea {
        region,
        name: text("name", &input.name, 100)?,
        level,
        effective_from,
        effective_to,
        published_by: caller.user.username.clone(),
    };
    let created = state.store.add_risk_area(&area, now).await?;
    reload_risk_areas(&state).await?;
    super::audit::record(
        &state,
        &caller,
        "risk_area.publish",
        None,
        None,
        Some(format!("{} {}", area.region, level.code())),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(risk_area_view(&state, created))))
}

/// Risk areas in force now or announced for later.
#[utoipa::path(get, path = "/api/v1/risk-areas", tag = "health", responses((status = 200, body = List<RiskAreaView>)))]
pub async fn list_risk_areas(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<List<RiskAreaView>>> {
    caller.require(Permission::ReadRegistry)?;
    let areas = state.store.risk_areas(Some(state.now())).await?;
    Ok(Json(List::all(areas.into_iter().map(|a| risk_area_view(&state, a)).collect())))
}

/// Ends a risk area now (动态调整).
#[utoipa::path(post, path = "/api/v1/risk-areas/{id}/end", tag = "health",
    responses((status = 200, body = RiskAreaView), (status = 404, body = crate::error::Problem)))]
pub async fn end_risk_area(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RiskAreaView>> {
    caller.require(Permission::ManageRiskAreas)?;
    let ended = state.store.end_risk_area(id, state.now()).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("current risk area"),
        other => other.into(),
    })?;
    reload_risk_areas(&state).await?;
    super::audit::record(&state, &caller, "risk_area.end", None, None, Some(format!("{id}"))).await?;
    Ok(Json(risk_area_view(&state, ended)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NatView {
    #[schema(value_type = String, format = DateTime)]
    pub sampled_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub reported_at: DateTime<FixedOffset>,
    pub result: &'static str,
    pub kind: &'static str,
    pub lab: Option<String>,
    /// Hours since sampling.
    pub age_hours: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub person_id: i64,
    pub colour: &'static str,
    pub colour_label_zh: &'static str,
    /// Why the colour is what it is (none for the default green).
    pub reason: Option<String>,
    pub source: Option<&'static str>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_until: Option<DateTime<FixedOffset>>,
    pub last_nat: Option<NatView>,
    pub vaccine_doses: u8,
    /// A medical exemption from vaccination covers today (see `/api/v1/health/vaccine-exemptions`).
    pub vaccine_exempt: bool,
    /// 行程卡带星: a stay in a risk area within 14 days.
    pub itinerary_risk: bool,
    /// Every assignment, oldest first.
    pub history: Vec<AssignmentView>,
    pub appeals: Vec<AppealView>,
}

fn nat_view(state: &AppState, n: NatResult) -> NatView {
    NatView {
        age_hours: (state.now() - n.sampled_at).num_hours(),
        sampled_at: state.local(n.sampled_at),
        reported_at: state.local(n.reported_at),
        result: n.outcome.code(),
        kind: n.kind.code(),
        lab: n.lab,
    }
}

/// A person's live status with the history behind it.
#[utoipa::path(get, path = "/api/v1/persons/{id}/health", tag = "health",
    responses((status = 200, body = HealthView), (status = 403, body = crate::error::Problem)))]
pub async fn person_health(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<HealthView>> {
    let person = person_in_scope(&state, &caller, Permission::ReadPersons, id).await?;
    let status = state.status.status(&*state.store, person.id, state.now(), state.tz).await?;
    let history = state.store.assignments_of(person.id).await?;
    let appeals = state.store.appeals_of(person.id).await?;
    Ok(Json(HealthView {
        person_id: person.id.0,
        colour: status.colour.code(),
        colour_label_zh: status.colour.label_zh(),
        reason: status.assignment.as_ref().map(|a| a.reason.clone()),
        source: status.assignment.as_ref().map(|a| a.source.code()),
        valid_until: status.assignment.as_ref().and_then(|a| a.valid_until).map(|t| state.local(t)),
        last_nat: status.last_nat.clone().map(|n| nat_view(&state, n)),
        vaccine_doses: status.vaccine_doses,
        vaccine_exempt: status.vaccine_exempt,
        itinerary_risk: status.itinerary_risk,
        history: history.into_iter().map(|r| assignment_view(&state, r)).collect(),
        appeals: appeals.into_iter().map(|a| appeal_view(&state, a)).collect(),
    }))
}
