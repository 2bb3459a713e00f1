//! Users with a role and a scope, and API tokens for integrations.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::{Permission, Role, Scope, UserId};
use sentinel_store::{AuthToken, NewUser, StoreError, TokenKind, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{List, page_request};
use crate::auth::{Caller, hash_password, new_token};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: &'static str,
    pub role_label_zh: &'static str,
    /// `*`, a region code (that subtree), `category:CODE` or `venue:ID`
    pub scope: String,
    pub display_name: Option<String>,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
}

impl UserView {
    pub fn new(state: &AppState, u: User) -> Self {
        Self {
            id: u.id.0,
            username: u.username,
            role: u.role.code(),
            role_label_zh: u.role.label_zh(),
            scope: u.scope.to_string(),
            display_name: u.display_name,
            disabled: u.disabled,
            created_at: state.local(u.created_at),
        }
    }
}

/// Usernames are 3–64 of `A-Z a-z 0-9 _ . - @`; passwords at least 8 characters.
pub fn validate_credentials(username: &str, password: &str) -> ApiResult<()> {
    let ok_name = (3..=64).contains(&username.len())
        && username.chars().all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c));
    if !ok_name {
        return Err(ApiError::invalid(
            "username",
            "用户名应为3–64位字母、数字或_.-@ / username must be 3–64 of A-Z a-z 0-9 _ . - @",
        ));
    }
    if password.chars().count() < 8 || password.len() > 256 {
        return Err(ApiError::invalid(
            "password",
            "密码至少8个字符 / password must have at least 8 characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserInput {
    pub username: String,
    pub password: String,
    /// admin, command_centre, supervisor, grid_worker, investigator, venue_manager, venue_staff,
    /// enterprise_hr or auditor
    pub role: String,
    /// `*`, a region code (that subtree), `category:CODE` or `venue:ID`
    pub scope: String,
    pub display_name: Option<String>,
}

/// Creates a user; a caller can only grant a scope inside its own.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserInput,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<UserInput>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Permission::ManageUsers)?;
    let username = input.username.trim();
    validate_credentials(username, &input.password)?;
    let role = Role::from_code(input.role.trim())
        .ok_or_else(|| ApiError::invalid("role", "未知角色 / unknown role"))?;
    let scope = Scope::parse(&input.scope).map_err(|e| ApiError::invalid("scope", e.to_string()))?;
    if !caller.user.scope.includes(&scope) {
        return Err(ApiError::out_of_scope());
    }
    let user = NewUser {
        username: username.to_owned(),
        password_hash: hash_password(input.password).await?,
        role,
        scope,
        display_name: input.display_name.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()),
    };
    let created = state.store.create_user(&user, state.now()).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict("username"),
        other => other.into(),
    })?;
    let detail = format!("role={} scope={}", created.role.code(), created.scope);
    super::audit::record(
        &state,
        &caller,
        "user.create",
        Some(format!("user:{}", created.id)),
        None,
        Some(detail),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UserView::new(&state, created))))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    responses((status = 200, body = List<UserView>)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<List<UserView>>> {
    caller.require(Permission::ManageUsers)?;
    let page = state.store.list_users(page_request(q.cursor.as_deref(), q.limit)?).await?;
    // Users beyond the caller's scope are left out (the cursor still moves past them).
    let next = page.next.map(|n| n.to_string());
    let items = page
        .items
        .into_iter()
        .filter(|u| caller.user.scope.includes(&u.scope))
        .map(|u| UserView::new(&state, u))
        .collect();
    Ok(Json(List { items, next }))
}

async fn load_user(state: &AppState, id: i64) -> ApiResult<User> {
    state.store.get_user(UserId(id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("user"),
        other => other.into(),
    })
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 200, body = UserView), (status = 404, body = crate::error::Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserView>> {
    if caller.user.id.0 != id {
        caller.require(Permission::ManageUsers)?;
    }
    let user = load_user(&state, id).await?;
    if caller.user.id != user.id && !caller.user.scope.includes(&user.scope) {
        return Err(ApiError::out_of_scope());
    }
    Ok(Json(UserView::new(&state, user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiTokenInput {
    /// What the token is for, e.g. `苏康码数据接口`.
    pub name: String,
    /// Days until it expires; without it the token lives until revoked.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    /// Shown once: only its hash is stored.
    pub token: String,
    pub name: String,
    pub user_id: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<FixedOffset>>,
}

/// Issues an API token acting as the given user, for integrations such as the health authority feed.
#[utoipa::path(post, path = "/api/v1/users/{id}/api-tokens", tag = "users", request_body = ApiTokenInput,
    responses((status = 201, body = ApiTokenView)))]
pub async fn create_api_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ApiTokenInput>,
) -> ApiResult<(StatusCode, Json<ApiTokenView>)> {
    caller.require(Permission::ManageUsers)?;
    let user = load_user(&state, id).await?;
    if !caller.user.scope.includes(&user.scope) {
        return Err(ApiError::out_of_scope());
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "名称应为1–100个字符 / name must be 1–100 characters"));
    }
    if input.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(ApiError::invalid("expires_in_days", "有效期应为1–3650天 / must be 1–3650 days"));
    }
    let now = state.now();
    let (token, hash) = new_token();
    let expires_at = input.expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)));
    state
        .store
        .create_token(&AuthToken {
            token_hash: hash,
            user_id: user.id,
            kind: TokenKind::Api,
            name: Some(name.to_owned()),
            csrf_token: None,
            created_at: now,
            expires_at,
        })
        .await?;
    super::audit::record(
        &state,
        &caller,
        "api_token.create",
        Some(format!("user:{}", user.id)),
        None,
        Some(name.to_owned()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiTokenView {
            token,
            name: name.to_owned(),
            user_id: user.id.0,
            expires_at: expires_at.map(|e| state.local(e)),
        }),
    ))
}
