//! Trace rule sets (DESIGN.md §6): the presets with every parameter and their public source.

use axum::Json;
use sentinel_trace::{RuleSet, TierRule};
use serde::Serialize;
use utoipa::ToSchema;

use super::List;
use super::cases::require_tracing;
use crate::auth::Caller;
use crate::error::ApiResult;

#[derive(Debug, Serialize, ToSchema)]
pub struct TierRuleView {
    /// The code colour a contact of this tier is given.
    pub colour: &'static str,
    pub expiry_days: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryMinutes {
    pub category: &'static str,
    pub minutes: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleSetView {
    pub name: String,
    pub version: u32,
    pub title_zh: String,
    pub title_en: String,
    /// The public document the figures come from.
    pub source: String,
    pub lookback_days: u16,
    /// 0: any overlap makes a close contact.
    pub min_overlap_minutes: u16,
    pub min_overlap_by_category: Vec<CategoryMinutes>,
    pub buffer_after_minutes: u16,
    /// Stay given to an entry-only scan per category (always cut at the person's next check-in).
    pub default_stay_minutes: Vec<CategoryMinutes>,
    /// 1: close contacts; 2: also secondary contacts.
    pub hops: u8,
    /// Same venue, same local day (时空伴随).
    pub companions: bool,
    pub close: TierRuleView,
    pub secondary: TierRuleView,
    pub companion: TierRuleView,
}

fn tier(t: TierRule) -> TierRuleView {
    TierRuleView { colour: t.colour.code(), expiry_days: t.expiry_days }
}

pub fn rule_set_view(r: &RuleSet) -> RuleSetView {
    let per_category = |list: &[(sentinel_core::VenueCategory, u16)]| {
        list.iter().map(|(c, m)| CategoryMinutes { category: c.code(), minutes: *m }).collect()
    };
    RuleSetView {
        name: r.name.clone(),
        version: r.version,
        title_zh: r.title_zh.clone(),
        title_en: r.title_en.clone(),
        source: r.source.clone(),
        lookback_days: r.lookback_days,
        min_overlap_minutes: r.min_overlap_minutes,
        min_overlap_by_category: per_category(&r.min_overlap_by_category),
        buffer_after_minutes: r.buffer_after_minutes,
        default_stay_minutes: sentinel_core::VenueCategory::ALL
            .iter()
            .map(|c| CategoryMinutes { category: c.code(), minutes: r.default_stay_minutes(*c) })
            .collect(),
        hops: r.hops,
        companions: r.companions,
        close: tier(r.close),
        secondary: tier(r.secondary),
        companion: tier(r.companion),
    }
}

/// The rule sets a case may name.
#[utoipa::path(get, path = "/api/v1/rule-sets", tag = "tracing", responses((status = 200, body = List<RuleSetView>)))]
pub async fn list_rule_sets(caller: Caller) -> ApiResult<Json<List<RuleSetView>>> {
    require_tracing(&caller)?;
    Ok(Json(List::all(RuleSet::presets().iter().map(rule_set_view).collect())))
}
