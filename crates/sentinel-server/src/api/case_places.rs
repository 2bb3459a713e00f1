//! Where cases went: a case's trajectory (its visits from the start of the lookback until isolation, with
//! the check-out or the stay the rule set infers) and venue clusters (聚集性疫情线索), venues that several open
//! cases' persons visited.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, FixedOffset};
use sentinel_core::{PersonId, VenueId};
use sentinel_store::{VisitFilter, all_pages};
use sentinel_trace::RuleSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

use super::List;
use super::cases::{load_case, require_tracing, rule_set, venue_names};
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
    let mut visits = all_pages(|page| state.store.list_visits(&filter, page)).await?;
    visits.sort_by_key(|v| (v.entered_at, v.id));
    // Stays as the trace sees them (the rule set's default, cut at the next admitted entry), from the index.
    let now = state.now();
    let snapshot = state.trace_book.snapshot(state.store.clone(), now).await?;
    let ends: HashMap<(u32, i64), i64> = u32::try_from(case.person_id.0)
        .map(|person| {
            let from = filter.from.map_or(0, |t| t.timestamp());
            sentinel_trace::trajectory(&snapshot.index, &rules, person, from, case.opened_at.timestamp() + 1)
                .into_iter()
                .map(|v| ((v.venue, v.entered), v.ends))
                .collect()
        })
        .unwrap_or_default();
    super::audit::record(&state, &caller, "case.trajectory", Some(format!("case:{id}")), None, None).await?;
    let venues = venue_names(&state, visits.iter().map(|v| v.venue_id).collect()).await?;
    let stops = visits
        .iter()
        .map(|v| {
            let venue = venues.get(&v.venue_id);
            let key = (u32::try_from(v.venue_id.0).unwrap_or(u32::MAX), v.entered_at.timestamp());
            // A denied scan is no stay at all.
            let inferred = ends.get(&key).and_then(|&secs| DateTime::from_timestamp(secs, 0));
            let left = v.left_at.or(inferred).unwrap_or(v.entered_at);
            TrajectoryStop {
                visit_id: v.id,
                venue_id: v.venue_id.0,
                venue_name: venue.map(|x| x.name.clone()),
                category: v.category.code(),
                category_label_zh: v.category.label_zh(),
                address: venue.map(|x| x.address.clone()),
                channel: v.channel.clone(),
                entered_at: state.local(v.entered_at),
                left_at: state.local(left),
                left_inferred: v.left_at.is_none() && inferred.is_some(),
                outcome: v.outcome.clone(),
            }
        })
        .collect();
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
    let cases = all_pages(|page| state.store.list_cases(true, region.as_ref(), page)).await?;
    let snapshot = state.trace_book.snapshot(state.store.clone(), now).await?;
    let from = (now - Duration::days(i64::from(days))).timestamp();
    let rules = RuleSet::china_2022();
    // Per venue, the persons (and their cases) seen there.
    let mut at_venue: BTreeMap<u32, BTreeMap<PersonId, Vec<i64>>> = BTreeMap::new();
    for case in &cases {
        let Ok(person) = u32::try_from(case.person_id.0) else { continue };
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
    let names = venue_names(&state, found.iter().map(|(v, _, _)| VenueId(i64::from(*v))).collect()).await?;
    let items = found
        .into_iter()
        .map(|(venue, cases, case_ids)| {
            let venue_name = names.get(&VenueId(i64::from(venue))).map(|v| v.name.clone());
            ClusterView { venue_id: i64::from(venue), venue_name, cases, case_ids }
        })
        .collect();
    Ok(Json(List::all(items)))
}
