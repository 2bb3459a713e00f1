//! The investigator's workflow (流调): open a case, trace it (a dry run: counts per tier and venue, nothing
//! changes), read its contacts with evidence (trajectories and clusters: `case_places`), apply the rule
//! set's codes to its contacts (audited, with the case as legal basis), re-run when late visits arrive and
//! see what changed, close it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, FixedOffset};
use sentinel_core::{Permission, PersonId, VenueId};
use sentinel_store::{ApplyPlan, CaseContact, CaseStatus, NewCase, OnsetKind, StoreError, TraceCase};
use sentinel_trace::{RuleSet, Tier};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

use super::credentials::person_in_scope;
use super::health::target;
use super::{List, page_request};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::exposure::WINDOW_DAYS;
use crate::exposure::case::{engine_case, trace_cases};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::health::import::parse_time;
use crate::state::AppState;

/// Tracing reads the whole city's visits: callers bound to one venue or category cannot.
pub(super) fn require_tracing(caller: &Caller) -> ApiResult<()> {
    caller.require(Permission::TraceCases)?;
    caller.person_region().map(|_| ())
}

pub(super) fn rule_set(name: &str) -> ApiResult<RuleSet> {
    RuleSet::preset(name).ok_or_else(|| {
        let known: Vec<String> = RuleSet::presets().into_iter().map(|r| r.name).collect();
        ApiError::invalid("rule_set", format!("未知规则集 / unknown rule set; known: {}", known.join(", ")))
    })
}

/// The case, if the caller may trace and its person lives in the caller's scope.
pub(super) async fn load_case(state: &AppState, caller: &Caller, id: i64) -> ApiResult<TraceCase> {
    require_tracing(caller)?;
    let case = state.store.get_case(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("case"),
        other => other.into(),
    })?;
    person_in_scope(state, caller, Permission::TraceCases, case.person_id.0).await?;
    Ok(case)
}

/// Names (and addresses) of the venues `ids` name, in one query; a deleted or unknown venue is left out.
pub async fn venue_names(
    state: &AppState,
    mut ids: Vec<VenueId>,
) -> ApiResult<HashMap<VenueId, sentinel_store::Venue>> {
    ids.sort_unstable();
    ids.dedup();
    Ok(state.store.get_venues(&ids).await?.into_iter().map(|v| (v.id, v)).collect())
}

/// Whether the case's lookback reaches back beyond the visits the index keeps.
fn beyond_window(onset_at: DateTime<chrono::Utc>, rules: &RuleSet, now: DateTime<chrono::Utc>) -> bool {
    onset_at - Duration::days(i64::from(rules.lookback_days)) < now - Duration::days(WINDOW_DAYS)
}

fn closed_or(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::case_closed(),
        StoreError::NotFound => ApiError::not_found("case"),
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CaseInput {
    pub person_id: Option<i64>,
    /// Instead of `person_id`.
    pub id_number: Option<String>,
    /// Onset of symptoms (RFC 3339, or local `YYYY-MM-DD HH:MM`); or give `sampled_at`.
    pub onset_at: Option<String>,
    /// Sampling time of an asymptomatic case's positive test.
    pub sampled_at: Option<String>,
    /// A rule set name from `GET /api/v1/rule-sets`; `china-2022` when absent.
    pub rule_set: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub person_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub onset_at: DateTime<FixedOffset>,
    /// `onset` or `sampled`.
    pub onset_kind: &'static str,
    pub rule_set: String,
    pub rule_set_version: u32,
    /// `open`, `applied` or `closed`.
    pub status: &'static str,
    pub opened_by: String,
    /// Also when the case is taken to be isolated.
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: DateTime<FixedOffset>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub traced_at: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub applied_at: Option<DateTime<FixedOffset>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<DateTime<FixedOffset>>,
}

pub(super) fn case_view(state: &AppState, c: &TraceCase) -> CaseView {
    CaseView {
        id: c.id,
        person_id: c.person_id.0,
        onset_at: state.local(c.onset_at),
        onset_kind: c.onset_kind.code(),
        rule_set: c.rule_set.clone(),
        rule_set_version: c.rule_set_version,
        status: c.status.code(),
        opened_by: c.opened_by.clone(),
        opened_at: state.local(c.opened_at),
        traced_at: c.traced_at.map(|t| state.local(t)),
        applied_at: c.applied_at.map(|t| state.local(t)),
        closed_at: c.closed_at.map(|t| state.local(t)),
    }
}

/// Opens a case for a person (by id or ID number) with the onset or sampling time and a rule set.
#[utoipa::path(post, path = "/api/v1/cases", tag = "tracing", request_body = CaseInput,
    responses((status = 201, body = CaseView), (status = 422, body = crate::error::Problem)))]
pub async fn open_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<CaseInput>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    require_tracing(&caller)?;
    let rules = rule_set(input.rule_set.as_deref().unwrap_or("china-2022"))?;
    let (field, raw, kind) = match (&input.onset_at, &input.sampled_at) {
        (Some(t), None) => ("onset_at", t, OnsetKind::Onset),
        (None, Some(t)) => ("sampled_at", t, OnsetKind::Sampled),
        _ => {
            return Err(ApiError::invalid(
                "onset_at",
                "需要 onset_at 或 sampled_at 之一 / exactly one of onset_at and sampled_at is required",
            ));
        }
    };
    let onset_at = parse_time(raw, state.tz).map_err(|e| ApiError::invalid(field, e))?;
    let now = state.now();
    if onset_at > now + Duration::minutes(5) {
        return Err(ApiError::invalid(field, "时间在未来 / lies in the future"));
    }
    if beyond_window(onset_at, &rules, now) {
        return Err(ApiError::invalid(
            field,
            format!(
                "回溯{1}天超出可追溯的{0}天 / with the {1}-day lookback this reaches beyond the {0} days of visits \
                 kept for tracing",
                WINDOW_DAYS, rules.lookback_days
            ),
        ));
    }
    let person_id = target(&state, &caller, input.person_id, input.id_number.as_deref()).await?;
    let case = NewCase {
        person_id,
        onset_at,
        onset_kind: kind,
        rule_set: rules.name.clone(),
        rule_set_version: rules.version,
        opened_by: caller.user.username.clone(),
    };
    let case = state.store.create_case(&case, now).await?;
    super::audit::record(
        &state,
        &caller,
        "case.open",
        Some(format!("case:{}", case.id)),
        None,
        Some(format!("person:{} rule_set:{} v{}", person_id.0, rules.name, rules.version)),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(case_view(&state, &case))))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CaseListQuery {
    /// Include closed cases.
    pub all: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Cases whose person lives in the caller's scope, newest first; closed ones only with `all=true`.
#[utoipa::path(get, path = "/api/v1/cases", tag = "tracing", params(CaseListQuery),
    responses((status = 200, body = List<CaseView>)))]
pub async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CaseListQuery>,
) -> ApiResult<Json<List<CaseView>>> {
    require_tracing(&caller)?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let region = caller.person_region()?;
    let page = state.store.list_cases(!q.all.unwrap_or(false), region.as_ref(), page).await?;
    Ok(Json(List::from_page(page, |c| case_view(&state, &c))))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "tracing",
    responses((status = 200, body = CaseView), (status = 404, body = crate::error::Problem)))]
pub async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CaseView>> {
    Ok(Json(case_view(&state, &load_case(&state, &caller, id).await?)))
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TierCounts {
    pub close: usize,
    pub secondary: usize,
    pub companion: usize,
}

impl TierCounts {
    fn add(&mut self, tier: &str) {
        match Tier::from_code(tier) {
            Some(Tier::Close) => self.close += 1,
            Some(Tier::Secondary) => self.secondary += 1,
            Some(Tier::Companion) => self.companion += 1,
            None => {}
        }
    }

    fn of<'a>(tiers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut counts = Self::default();
        for t in tiers {
            counts.add(t);
        }
        counts
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueCounts {
    pub venue_id: i64,
    pub venue_name: Option<String>,
    pub counts: TierCounts,
}

/// What a re-run changed against the trace before it.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TraceChanges {
    /// Whether there was an earlier trace to compare with.
    pub rerun: bool,
    /// Persons found now and not before (at most 1000 listed; `added_count` counts all).
    pub added: Vec<i64>,
    pub added_count: usize,
    pub removed: Vec<i64>,
    pub removed_count: usize,
    /// Persons found both times at another tier.
    pub tier_changed: Vec<i64>,
    pub tier_changed_count: usize,
}

const LISTED_CHANGES: usize = 1000;

fn changes(before: &[CaseContact], after: &[CaseContact], rerun: bool) -> TraceChanges {
    let old: HashMap<i64, &str> = before.iter().map(|c| (c.person_id.0, c.tier.as_str())).collect();
    let new: HashMap<i64, &str> = after.iter().map(|c| (c.person_id.0, c.tier.as_str())).collect();
    let mut added: Vec<i64> = new.keys().filter(|p| !old.contains_key(p)).copied().collect();
    let mut removed: Vec<i64> = old.keys().filter(|p| !new.contains_key(p)).copied().collect();
    let mut tier_changed: Vec<i64> =
        new.iter().filter(|(p, t)| old.get(p).is_some_and(|o| o != *t)).map(|(p, _)| *p).collect();
    for list in [&mut added, &mut removed, &mut tier_changed] {
        list.sort_unstable();
    }
    let (added_count, removed_count, tier_changed_count) = (added.len(), removed.len(), tier_changed.len());
    for list in [&mut added, &mut removed, &mut tier_changed] {
        list.truncate(LISTED_CHANGES);
    }
    TraceChanges { rerun, added, added_count, removed, removed_count, tier_changed, tier_changed_count }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceView {
    pub case: CaseView,
    pub counts: TierCounts,
    /// The venues with the most contacts (at most 20), by where the earliest exposure happened.
    pub venues: Vec<VenueCounts>,
    pub changes: TraceChanges,
    /// Visits in the index the trace read.
    pub indexed_visits: usize,
    /// The lookback now reaches back beyond the visits kept (the case was opened long ago): the oldest
    /// exposures are missing.
    pub window_truncated: bool,
    pub elapsed_ms: f64,
}

/// Traces the case on every visit committed so far and keeps the result (a dry run: no code changes).
/// Run it again when late visits arrive; `changes` says what differs from the previous run.
#[utoipa::path(post, path = "/api/v1/cases/{id}/trace", tag = "tracing",
    responses((status = 200, body = TraceView), (status = 409, body = crate::error::Problem)))]
pub async fn trace_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TraceView>> {
    let case = load_case(&state, &caller, id).await?;
    if case.status == CaseStatus::Closed {
        return Err(ApiError::case_closed());
    }
    let rules = rule_set(&case.rule_set)?;
    let started = std::time::Instant::now();
    let now = state.now();
    let window_truncated = beyond_window(case.onset_at, &rules, now);
    let snapshot = state.trace_book.snapshot(state.store.clone(), now).await?;
    let offset = state.tz.local_minus_utc();
    let traced = {
        let (snapshot, cases) = (snapshot.clone(), engine_case(&case).into_iter().collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || trace_cases(&snapshot, &rules, &cases, now, offset))
            .await
            .map_err(|_| ApiError::internal())?
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (saved, before) = state.store.save_case_trace(id, &traced, now).await.map_err(closed_or)?;
    let mut per_venue: BTreeMap<i64, TierCounts> = BTreeMap::new();
    for c in &traced {
        per_venue.entry(c.venue_id.0).or_default().add(&c.tier);
    }
    let mut venues: Vec<(i64, TierCounts)> = per_venue.into_iter().collect();
    venues.sort_by_key(|(v, c)| (std::cmp::Reverse(c.close + c.secondary + c.companion), *v));
    venues.truncate(20);
    let names = venue_names(&state, venues.iter().map(|(v, _)| VenueId(*v)).collect()).await?;
    let venue_views = venues
        .into_iter()
        .map(|(venue_id, counts)| VenueCounts {
            venue_id,
            venue_name: names.get(&VenueId(venue_id)).map(|v| v.name.clone()),
            counts,
        })
        .collect();
    super::audit::record(&state, &caller, "case.trace", Some(format!("case:{id}")), None, None).await?;
    Ok(Json(TraceView {
        case: case_view(&state, &saved),
        counts: TierCounts::of(traced.iter().map(|c| c.tier.as_str())),
        venues: venue_views,
        changes: changes(&before, &traced, case.traced_at.is_some()),
        indexed_visits: snapshot.index.stats().visits,
        window_truncated,
        elapsed_ms,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactQuery {
    /// `close`, `secondary` or `companion`.
    pub tier: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    pub venue_id: i64,
    pub venue_name: Option<String>,
    /// When the exposure began and ended (a companion: their own stay that day).
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<FixedOffset>,
    /// The case or close contact they were with (person id).
    pub via: i64,
    pub overlap_minutes: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub person_id: i64,
    /// `张*`
    pub name: Option<String>,
    pub tier: String,
    /// The earliest exposure found.
    pub evidence: Vec<EvidenceView>,
    pub exposures: u32,
    /// The code assignment applied for this contact, once applied.
    pub assignment_id: Option<i64>,
}

pub(super) fn parse_tier(raw: Option<&str>) -> ApiResult<Option<&'static str>> {
    match raw.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Tier::from_code(t).map(|t| Some(t.code())).ok_or_else(|| {
            ApiError::invalid(
                "tier",
                "应为 close、secondary 或 companion / must be close, secondary or companion",
            )
        }),
    }
}

/// The contacts of the case's last trace, close first, masked; paged by position (`cursor`).
#[utoipa::path(get, path = "/api/v1/cases/{id}/contacts", tag = "tracing", params(ContactQuery),
    responses((status = 200, body = List<ContactView>)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<List<ContactView>>> {
    let tier = parse_tier(q.tier.as_deref())?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    load_case(&state, &caller, id).await?;
    let start = u32::try_from(page.after.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
    // One more than asked for tells whether there is a next page.
    let mut contacts =
        state.store.case_contacts(id, tier, Some((start, page.limit + 1))).await.map_err(closed_or)?;
    let more = contacts.len() > page.limit as usize;
    contacts.truncate(page.limit as usize);
    let names = venue_names(&state, contacts.iter().map(|c| c.venue_id).collect()).await?;
    let ids: Vec<PersonId> = contacts.iter().map(|c| c.person_id).collect();
    let masked: HashMap<PersonId, String> =
        state.store.get_persons(&ids).await?.into_iter().map(|p| (p.id, p.name.masked())).collect();
    let mut items = Vec::with_capacity(contacts.len());
    for c in &contacts {
        let name = masked.get(&c.person_id).cloned();
        items.push(ContactView {
            person_id: c.person_id.0,
            name,
            tier: c.tier.clone(),
            evidence: vec![EvidenceView {
                venue_id: c.venue_id.0,
                venue_name: names.get(&c.venue_id).map(|v| v.name.clone()),
                from: state.local(c.from),
                to: state.local(c.to),
                via: c.via.0,
                overlap_minutes: (c.overlap_secs as f64 / 60.0 * 10.0).round() / 10.0,
            }],
            exposures: c.exposures,
            assignment_id: c.assignment_id,
        });
    }
    let next = more.then(|| (start as usize + contacts.len()).to_string());
    Ok(Json(List { items, next }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyView {
    pub case: CaseView,
    /// Codes assigned by this call, per tier (contacts applied before are not assigned again).
    pub assigned: TierCounts,
    /// Contacts still without a code: living outside the caller's scope (a city-wide caller assigns them).
    pub not_applied: usize,
}

/// Assigns each contact of the last trace its tier's colour for the rule set's days (close → red,
/// secondary → yellow, companions as the rule set says), with the case as legal basis; only contacts living
/// in the caller's scope. The gate decides on the new colour at once. Contacts applied earlier at the same
/// tier are left alone.
#[utoipa::path(post, path = "/api/v1/cases/{id}/apply", tag = "tracing",
    responses((status = 200, body = ApplyView), (status = 409, body = crate::error::Problem)))]
pub async fn apply_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ApplyView>> {
    caller.require(Permission::WriteHealth)?;
    let case = load_case(&state, &caller, id).await?;
    if case.status == CaseStatus::Closed {
        return Err(ApiError::case_closed());
    }
    if case.traced_at.is_none() {
        return Err(ApiError::invalid("trace", "请先运行追踪 / trace the case before applying it"));
    }
    let rules = rule_set(&case.rule_set)?;
    let now = state.now();
    let until = |days: u16| now + Duration::days(i64::from(days));
    let plan = ApplyPlan {
        tiers: Tier::ALL
            .into_iter()
            .map(|tier| {
                (tier.code().to_owned(), rules.tier(tier).colour, until(rules.tier(tier).expiry_days))
            })
            .collect(),
        reason: format!("case:{id} {}", rules.name),
        set_by: caller.user.username.clone(),
        region: caller.person_region()?,
    };
    let applied = state.store.apply_case(id, &plan, now).await.map_err(closed_or)?;
    for (person, _) in &applied.assigned {
        state.status.invalidate(*person);
    }
    let assigned = TierCounts::of(applied.assigned.iter().map(|(_, tier)| tier.as_str()));
    let not_applied = applied.not_applied;
    super::audit::record(
        &state,
        &caller,
        "case.apply",
        Some(format!("case:{id}")),
        None,
        Some(format!(
            "close:{} secondary:{} companion:{} not_applied:{not_applied}",
            assigned.close, assigned.secondary, assigned.companion
        )),
    )
    .await?;
    Ok(Json(ApplyView { case: case_view(&state, &applied.case), assigned, not_applied }))
}

/// Closes the case: it can no longer be traced or applied. Assigned codes run until their expiry.
#[utoipa::path(post, path = "/api/v1/cases/{id}/close", tag = "tracing",
    responses((status = 200, body = CaseView), (status = 409, body = crate::error::Problem)))]
pub async fn close_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CaseView>> {
    load_case(&state, &caller, id).await?;
    let closed = state.store.close_case(id, &caller.user.username, state.now()).await.map_err(closed_or)?;
    super::audit::record(&state, &caller, "case.close", Some(format!("case:{id}")), None, None).await?;
    Ok(Json(case_view(&state, &closed)))
}
