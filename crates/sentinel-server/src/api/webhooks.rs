//! Outbound alert channels: webhooks (generic JSON with an HMAC-SHA256 signature, WeCom and DingTalk
//! group robots, the SMS gateway), for the whole deployment or one region, and the dead letters of
//! deliveries given up on. A caller sees and makes only hooks its scope covers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::{Permission, RegionCode, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookInput {
    /// http(s) URL the alerts are POSTed to.
    pub url: String,
    /// Signs the `json` and `sms` formats (`X-Sentinel-Signature: sha256=HEX`); DingTalk's robot secret
    /// for `dingtalk`.
    pub secret: String,
    /// `json` (default), `wecom`, `dingtalk`, or `sms`: the city's SMS gateway, which gets a short text and
    /// the region asked to act (`audience_region`) and sends it to that region's duty roster (Sentinel
    /// keeps no officials' phones).
    pub format: Option<String>,
    /// The region whose alerts it hears (a community's group robot, a street office's): that subtree's
    /// alerts when they reach its level, as the live streams get them (a venue's grid at once, its
    /// community after one escalation, its street after two, its district after three). Omitted: every alert — only for deployment-wide callers; a
    /// district's command centre gets its own region by default.
    pub region_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub format: String,
    pub active: bool,
    /// Null: every alert of the deployment.
    pub region_code: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
}

impl WebhookView {
    fn new(state: &AppState, hook: sentinel_store::Webhook) -> Self {
        Self {
            id: hook.id,
            url: hook.url,
            format: hook.format,
            active: hook.active,
            region_code: hook.region.map(|r| r.to_string()),
            created_at: state.local(hook.created_at),
        }
    }
}

/// Whether the caller's scope covers a hook: a deployment-wide one only deployment-wide callers.
fn covers(caller: &Caller, region: Option<&RegionCode>) -> bool {
    match (&caller.user.scope, region) {
        (Scope::All, _) => true,
        (Scope::Region(mine), Some(r)) => mine.contains(r),
        _ => false,
    }
}

/// Registers a webhook; every alert it hears from now on (all, or its region's) is delivered to it.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "entry", request_body = WebhookInput,
    responses((status = 201, body = WebhookView), (status = 422, body = crate::error::Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<WebhookInput>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    caller.require(Permission::ManageWebhooks)?;
    let region =
        match (input.region_code.as_deref().map(str::trim).filter(|r| !r.is_empty()), &caller.user.scope) {
            (Some(raw), _) => Some(super::regions::parse_region("region_code", raw)?),
            (None, Scope::Region(mine)) => Some(mine.clone()),
            (None, _) => None,
        };
    if !covers(&caller, region.as_ref()) {
        return Err(ApiError::out_of_scope());
    }
    if let Some(r) = &region {
        state.store.get_region(r).await.map_err(|e| match e {
            sentinel_store::StoreError::NotFound => {
                ApiError::invalid("region_code", "区划不存在 / no such region")
            }
            other => other.into(),
        })?;
    }
    let url = input.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 500
        || reqwest::Url::parse(url).is_err()
    {
        return Err(ApiError::invalid("url", "应为 http(s) 地址 / must be an http(s) URL"));
    }
    let format = input.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "wecom" | "dingtalk" | "sms") {
        return Err(ApiError::invalid(
            "format",
            "格式应为 json、wecom、dingtalk 或 sms / format must be json, wecom, dingtalk or sms",
        ));
    }
    // The receiver checks the signature with the secret it chose; how long it is is the receiver's
    // business (README recommends 32 random characters), but an empty one would sign nothing.
    if matches!(format, "json" | "sms") && input.secret.is_empty() {
        return Err(ApiError::invalid("secret", "签名密钥不能为空 / the signing secret must not be empty"));
    }
    let hook = state
        .store
        .create_webhook(url, &input.secret, format, region.as_ref(), &caller.user.username, state.now())
        .await?;
    let heard = region.as_ref().map_or("*".to_owned(), ToString::to_string);
    super::audit::record(
        &state,
        &caller,
        "webhook.create",
        None,
        None,
        Some(format!("{format} {url} {heard}")),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(WebhookView::new(&state, hook))))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "entry", responses((status = 200, body = List<WebhookView>)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<List<WebhookView>>> {
    caller.require(Permission::ManageWebhooks)?;
    let hooks = state.store.webhooks().await?;
    Ok(Json(List::all(
        hooks
            .into_iter()
            .filter(|h| covers(&caller, h.region.as_ref()))
            .map(|h| WebhookView::new(&state, h))
            .collect(),
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub delivery_id: i64,
    pub webhook_id: i64,
    pub alert_id: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Deliveries given up on after the last retry, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/dead-letters", tag = "entry", responses((status = 200, body = List<DeadLetterView>)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<List<DeadLetterView>>> {
    caller.require(Permission::ManageWebhooks)?;
    let within = match &caller.user.scope {
        Scope::All => None,
        Scope::Region(r) => Some(r),
        _ => return Err(ApiError::out_of_scope()),
    };
    let dead = state.store.dead_letters(within, 200).await?;
    Ok(Json(List::all(
        dead.into_iter()
            .map(|d| DeadLetterView {
                delivery_id: d.id,
                webhook_id: d.webhook.id,
                alert_id: d.alert.id,
                attempts: d.attempts,
                last_error: d.last_error,
            })
            .collect(),
    )))
}
