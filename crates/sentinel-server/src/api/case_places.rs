//! Where cases went: a case's trajectory (its visits from the start of the lookback until isolation, with
//! the check-out or the stay the rule set infers) and venue clusters (聚集性疫情线索), venues that several open
//! cases' persons visited.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, FixedOffset};
use sentinel_core::{PersonId, VenueId};
use sentinel_store::VisitFilter;
use sentinel_trace::RuleSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::List;
use super::cases::{load_case, require_tracing, rule_set};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::exposure::WINDOW_DAYS;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TrajectoryStop {
    pub visit_id: i64,
    pub venue_id: i64,
    pub venue_name: Option<String>,
    pub category: &'static str,
    pub category_label_zh: &'static str,
    pub address: Option<String>,
    pub channel: String,
    #[schema(value_type = String, format = DateTime)]
    pub entered_at: DateTime<FixedOffset>,
    /// The check-out, or the stay the rule set infers (the category's default, cut at the next entry).
    #[schema(value_type = String, format = DateTime)]
    pub left_at: DateTime<FixedOffset>,
    pub left_inferred: bool,
    pub outcome: String,
}

/// The case's visits from the start of its lookback until it was isolated, in time order.
#[utoipa::path(get, path = "/api/v1/cases/{id}/trajectory", tag = "tracing",
    responses((status = 200, body = List<TrajectoryStop>)))]
pub async fn trajectory(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<List<TrajectoryStop>>> {
    let case = load_case(&state, &caller, id).await?;
    let rules = rule_set(&case.rule_set)?;
    let filter = VisitFilter {
        scope: None,
        person: Some(case.person_id),
        from: Some(case.onset_at - Duration::days(i64::from(rules.lookback_days))),
        to: Some(case.opened_at),
        venue: None,
    };
    let mut visits = Vec::new();
    let mut page = sentinel_store::PageRequest { after: None, limit: sentinel_store::PageRequest::MAX_LIMIT };
    loop {
        let got = state.store.list_visits(&filter, page).await?;
        visits.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    visits.sort_by_key(|v| (v.entered_at, v.id));
    super::audit::record(&state, &caller, "case.trajectory", Some(format!("case:{id}")), None, None).await?;
    let mut stops = Vec::with_capacity(visits.len());
    for (i, v) in visits.iter().enumerate() {
        let venue = state.store.get_venue(v.venue_id).await.ok();
        let next_entry = visits.get(i + 1).map(|n| n.entered_at);
        let inferred = v.entered_at + Duration::minutes(i64::from(rules.default_stay_minutes(v.category)));
        let left = v.left_at.unwrap_or_else(|| next_entry.map_or(inferred, |n| inferred.min(n)));
        stops.push(TrajectoryStop {
            visit_id: v.id,
            venue_id: v.venue_id.0,
            venue_name: venue.as_ref().map(|x| x.name.clone()),
            category: v.category.code(),
            category_label_zh: v.category.label_zh(),
            address: venue.map(|x| x.address),
            channel: v.channel.clone(),
            entered_at: state.local(v.entered_at),
            left_at: state.local(left),
            left_inferred: v.left_at.is_none(),
            outcome: v.outcome.clone(),
        });
    }
    Ok(Json(List::all(stops)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClusterQuery {
    /// Least number of cases (distinct persons) at a venue; default 2.
    pub min_cases: Option<u32>,
    /// Window in days back from now; default 14.
    pub days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    pub venue_id: i64,
    pub venue_name: Option<String>,
    pub cases: usize,
    /// The case ids whose persons visited it in the window.
    pub case_ids: Vec<i64>,
}

/// Venue clusters (聚集性疫情线索): venues visited by at least `min_cases` persons of open cases within
/// the window, most cases first.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "tracing", params(ClusterQuery),
    responses((status = 200, body = List<ClusterView>)))]
pub async fn clusters(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ClusterQuery>,
) -> ApiResult<Json<List<ClusterView>>> {
    require_tracing(&caller)?;
    let min_cases = q.min_cases.unwrap_or(2).max(1) as usize;
    let days = q.days.unwrap_or(14);
    if !(1..=WINDOW_DAYS as u32).contains(&days) {
        return Err(ApiError::invalid("days", "应为1–30 / must be 1–30"));
    }
    let now = state.now();
    // Only the caller's cases count (a district sees the clusters of its own cases).
    let region = caller.person_region()?;
    let mut cases = Vec::new();
    let mut page = sentinel_store::PageRequest { after: None, limit: sentinel_store::PageRequest::MAX_LIMIT };
    loop {
        let got = state.store.list_cases(true, region.as_ref(), page).await?;
        cases.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let snapshot = state.trace_book.snapshot(state.store.clone(), now).await?;
    let from = (now - Duration::days(i64::from(days))).timestamp();
    let rules = RuleSet::china_2022();
    // Per venue, the persons (and their cases) seen there.
    let mut at_venue: BTreeMap<u32, BTreeMap<PersonId, Vec<i64>>> = BTreeMap::new();
    for case in &cases {
        let Ok(person) = u32::try_from(case.person_id.0) else { continue };
        if person as usize >= snapshot.index.person_count() {
            continue;
        }
        for v in sentinel_trace::trajectory(&snapshot.index, &rules, person, from, now.timestamp() + 1) {
            at_venue.entry(v.venue).or_default().entry(case.person_id).or_default().push(case.id);
        }
    }
    let mut found: Vec<(u32, usize, Vec<i64>)> = at_venue
        .into_iter()
        .filter(|(_, persons)| persons.len() >= min_cases)
        .map(|(venue, persons)| {
            let n = persons.len();
            let mut ids: Vec<i64> = persons.into_values().flatten().collect();
            ids.sort_unstable();
            ids.dedup();
            (venue, n, ids)
        })
        .collect();
    found.sort_by_key(|(venue, n, _)| (std::cmp::Reverse(*n), *venue));
    let mut items = Vec::with_capacity(found.len());
    for (venue, cases, case_ids) in found {
        let venue_name = state.store.get_venue(VenueId(i64::from(venue))).await.ok().map(|v| v.name);
        items.push(ClusterView { venue_id: i64::from(venue), venue_name, cases, case_ids });
    }
    Ok(Json(List::all(items)))
}
