//! Entry policies: drafts, publication with an effective time (动态调整), and the version list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::{Permission, Scope, VenueCategory, VenueId};
use sentinel_store::{PolicyRecord, PolicyScope, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use crate::auth::Caller;
use crate::entry::PolicyDoc;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, OptionalJson};
use crate::health::import::parse_time;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Null for the built-in city default.
    pub id: Option<i64>,
    /// `city`, `category:CODE` or `venue:ID`
    pub scope: String,
    pub version: i64,
    /// draft, published, or builtin
    pub status: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub effective_from: Option<DateTime<FixedOffset>>,
    pub created_by: Option<String>,
    pub published_by: Option<String>,
    pub policy: PolicyDoc,
}

fn scope_text(s: &PolicyScope) -> String {
    match s {
        PolicyScope::City => "city".into(),
        other => format!("{}:{}", other.kind(), other.value()),
    }
}

fn view(state: &AppState, r: PolicyRecord) -> PolicyView {
    PolicyView {
        id: Some(r.id),
        scope: scope_text(&r.scope),
        version: r.version,
        status: r.status.code(),
        effective_from: r.effective_from.map(|t| state.local(t)),
        created_by: Some(r.created_by),
        published_by: r.published_by,
        policy: serde_json::from_str(&r.body).unwrap_or_default(),
    }
}

fn parse_scope(raw: &str) -> ApiResult<PolicyScope> {
    let raw = raw.trim();
    let bad = || {
        ApiError::invalid(
            "scope",
            "范围应为 city、category:类别 或 venue:编号 / scope must be city, category:CODE or venue:ID",
        )
    };
    if raw == "city" {
        return Ok(PolicyScope::City);
    }
    if let Some(c) = raw.strip_prefix("category:") {
        return VenueCategory::from_code(c).map(PolicyScope::Category).ok_or_else(bad);
    }
    if let Some(v) = raw.strip_prefix("venue:") {
        return v.parse().map(|v| PolicyScope::Venue(VenueId(v))).map_err(|_| bad());
    }
    Err(bad())
}

/// Who may write a scope's policy: the whole deployment's command centre for the city and categories; a
/// venue's own managers (or anyone whose scope covers the venue) for a venue.
async fn may_write(
    state: &AppState,
    caller: &Caller,
    scope: &PolicyScope,
) -> ApiResult<Option<VenueCategory>> {
    caller.require(Permission::ManagePolicies)?;
    match scope {
        PolicyScope::City | PolicyScope::Category(_) => {
            // City-wide rules belong to a city-wide (or provincial) authority, not to a venue or district.
            let city_wide = match &caller.user.scope {
                Scope::All => true,
                Scope::Region(r) => r.level() <= sentinel_core::RegionLevel::City,
                _ => false,
            };
            if caller.user.role == sentinel_core::Role::VenueManager || !city_wide {
                return Err(ApiError::forbidden());
            }
            Ok(None)
        }
        PolicyScope::Venue(id) => {
            let venue = state.store.get_venue(*id).await.map_err(|e| match e {
                StoreError::NotFound => ApiError::invalid("scope", "场所不存在 / no such venue"),
                other => other.into(),
            })?;
            caller.require_venue(Permission::ManagePolicies, &venue)?;
            Ok(Some(venue.category))
        }
    }
}

/// Every version, newest first, after the built-in city default.
#[utoipa::path(get, path = "/api/v1/policies", tag = "entry", responses((status = 200, body = List<PolicyView>)))]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<List<PolicyView>>> {
    caller.require(Permission::ReadRegistry)?;
    let mut items = vec![PolicyView {
        id: None,
        scope: "city".into(),
        version: 0,
        status: "builtin",
        effective_from: None,
        created_by: None,
        published_by: None,
        policy: PolicyDoc::default(),
    }];
    items.extend(state.store.policies().await?.into_iter().map(|r| view(&state, r)));
    Ok(Json(List::all(items)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PolicyInput {
    /// `city`, `category:CODE` or `venue:ID`
    pub scope: String,
    /// Missing fields take the city default. The fields may also stand beside `scope` instead.
    pub policy: Option<PolicyDoc>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Saves a draft version; nothing changes at the gates until it is published.
#[utoipa::path(post, path = "/api/v1/policies", tag = "entry", request_body = PolicyInput,
    responses((status = 201, body = PolicyView), (status = 422, body = crate::error::Problem)))]
pub async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PolicyInput>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let scope = parse_scope(&input.scope)?;
    may_write(&state, &caller, &scope).await?;
    let doc = match input.policy {
        Some(doc) => doc,
        None => serde_json::from_value(serde_json::Value::Object(input.fields)).map_err(|e| {
            let message = e.to_string();
            let field = message
                .split("field `")
                .nth(1)
                .and_then(|r| r.split('`').next())
                .unwrap_or("policy")
                .to_owned();
            ApiError::invalid(&format!("policy.{field}"), message)
        })?,
    };
    // Stored with the shorthand resolved, so the version reads back as it decides.
    let policy =
        doc.to_policy().map_err(|(field, why)| ApiError::invalid(&format!("policy.{field}"), why))?;
    let body = serde_json::to_string(&PolicyDoc::from(&policy)).map_err(|_| ApiError::internal())?;
    let record = state.store.create_policy(&scope, &body, &caller.user.username, state.now()).await?;
    Ok((StatusCode::CREATED, Json(view(&state, record))))
}

#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct PublishInput {
    /// When the version takes over (default: now), e.g. `2024-04-30 00:00:00`.
    pub effective_from: Option<String>,
}

/// Publishes a draft from `effective_from` on; a venue's policy may only be stricter than the one above it.
#[utoipa::path(post, path = "/api/v1/policies/{id}/publish", tag = "entry", request_body = PublishInput,
    responses((status = 200, body = PolicyView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn publish_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(input): OptionalJson<PublishInput>,
) -> ApiResult<Json<PolicyView>> {
    let input = input.unwrap_or_default();
    let draft = state
        .store
        .policies()
        .await?
        .into_iter()
        .find(|p| p.id == id && p.status == sentinel_store::PolicyStatus::Draft)
        .ok_or_else(|| ApiError::not_found("draft policy"))?;
    let category = may_write(&state, &caller, &draft.scope).await?;
    let now = state.now();
    let effective_from = match input.effective_from.as_deref() {
        Some(raw) => parse_time(raw, state.tz).map_err(|e| ApiError::invalid("effective_from", e))?,
        None => now,
    };
    let doc: PolicyDoc = serde_json::from_str(&draft.body).map_err(|_| ApiError::internal())?;
    let policy =
        doc.to_policy().map_err(|(field, why)| ApiError::invalid(&format!("policy.{field}"), why))?;
    if let PolicyScope::Venue(_) = draft.scope {
        let looser =
            policy.at_least_as_strict_as(&state.policies.base_for(&draft.scope, category, effective_from));
        if !looser.is_empty() {
            return Err(ApiError::invalid(
                &format!("policy.{}", looser[0]),
                format!("场所策略只能更严格 / a venue may only tighten: looser in {}", looser.join(", ")),
            ));
        }
    }
    let published = state.store.publish_policy(id, effective_from, &caller.user.username, now).await?;
    state.policies.reload(&*state.store).await?;
    let detail = format!("{} v{} from {}", scope_text(&published.scope), published.version, effective_from);
    super::audit::record(&state, &caller, "policy.publish", None, None, Some(detail)).await?;
    Ok(Json(view(&state, published)))
}
