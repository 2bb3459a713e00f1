//! Login (password → session token and cookie), logout and "who am I".

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserView;
use crate::auth::{Caller, SESSION_COOKIE, create_session, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`; the same value is set as the session cookie.
    pub token: String,
    /// Send as `X-CSRF-Token` with state-changing requests that rely on the cookie.
    pub csrf_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<FixedOffset>,
    pub user: UserView,
}

/// Signs in with a password; answers a token and sets the HttpOnly session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let user = authenticate(&state, &req.username, req.password).await?;
    let now = state.now();
    let (token, record) = create_session(&*state.store, &user, now, state.session_ttl).await?;
    let caller = Caller { user: user.clone(), token_hash: record.token_hash.clone(), request_id: None };
    super::audit::record(&state, &caller, "auth.login", None, None, None).await?;
    let cookie = session_cookie(&state, &token);
    let body = LoginResponse {
        token,
        csrf_token: record.csrf_token.unwrap_or_default(),
        expires_at: state.local(record.expires_at.unwrap_or(now)),
        user: UserView::new(&state, user),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal())?);
    Ok(response)
}

/// The user with this name and password (Argon2; the same work for unknown users), or `login_failed`.
pub async fn authenticate(
    state: &AppState,
    username: &str,
    password: String,
) -> ApiResult<sentinel_store::User> {
    let user = state.store.get_user_by_username(username.trim()).await?;
    let verified = match &user {
        Some(u) if !u.disabled => verify_password(u.password_hash.clone(), password).await,
        // The same Argon2 work for unknown users, so the answer's timing does not tell who exists.
        _ => {
            let _ = verify_password(crate::auth::dummy_hash().await, password).await;
            false
        }
    };
    user.filter(|_| verified).ok_or_else(|| {
        tracing::warn!(username = %username, "login failed");
        ApiError::login_failed()
    })
}

/// The session cookie for a new login (console and staff pages share it).
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        state.session_ttl.num_seconds()
    )
}

/// Ends the session of the token or cookie used for this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    state.store.delete_token(&caller.token_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sentinel_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = UserView)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Json<UserView> {
    Json(UserView::new(&state, caller.user))
}
