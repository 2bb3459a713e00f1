//! Who is looking at a page: a signed-in resident (cookie `sentinel_resident`, SameSite=Lax so a phone
//! camera opening a poster's URL still sends it) or a signed-in staff member (the console's session
//! cookie). Forms carry the session's CSRF token in a hidden field, checked before anything changes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use sentinel_store::{Person, ResidentSession, StoreError};
use tower_http::request_id::RequestId;

use super::layout::{PageError, encode};
use crate::auth::{Caller, SESSION_COOKIE, cookie, token_hash};
use crate::state::AppState;

pub const RESIDENT_COOKIE: &str = "sentinel_resident";

/// A signed-in resident.
#[derive(Debug, Clone)]
pub struct Resident {
    pub person: Person,
    pub session: ResidentSession,
}

impl Resident {
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        check_csrf(&self.session.csrf_token, sent)
    }

    /// How audit records and registrars name a resident acting on their own pages.
    pub fn actor_name(&self) -> String {
        format!("resident:{}", self.person.id)
    }
}

/// Sign-in forms have no session yet, so no CSRF token: a browser's `Origin` must then be this site, or
/// another site could sign a person into an account of its choosing. Clients that send no `Origin` (not
/// a browser posting a form) pass.
pub fn check_origin(headers: &axum::http::HeaderMap) -> Result<(), PageError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(PageError::new(
            axum::http::StatusCode::FORBIDDEN,
            "cross_site",
            "请在本站页面登录",
            "Please sign in on this site's own page",
        ))
    }
}

fn check_csrf(expected: &str, sent: &str) -> Result<(), PageError> {
    if expected.is_empty() || expected != sent {
        return Err(PageError::new(
            axum::http::StatusCode::FORBIDDEN,
            "csrf",
            "页面已过期，请返回重新操作",
            "This page has expired: go back and try again",
        ));
    }
    Ok(())
}

/// A form that only proves it came from the session's own page (sign-out).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// The resident behind the request, if any.
pub struct MaybeResident(pub Option<Resident>);

impl FromRequestParts<AppState> for MaybeResident {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(parts, RESIDENT_COOKIE) else { return Ok(MaybeResident(None)) };
        let Some(session) = state.store.resident_session(&token_hash(token), state.now()).await? else {
            return Ok(MaybeResident(None));
        };
        let person = match state.store.get_person(session.person_id).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => return Ok(MaybeResident(None)),
            Err(e) => return Err(e.into()),
        };
        Ok(MaybeResident(Some(Resident { person, session })))
    }
}

/// A page only for signed-in residents: others are sent to sign in and brought back.
#[allow(clippy::result_large_err)] // the redirect is the page's answer, built once per request
pub fn resident_or_sign_in(maybe: MaybeResident, back: &str) -> Result<Resident, Response> {
    maybe.0.ok_or_else(|| Redirect::to(&format!("/r/login?next={}", encode(back))).into_response())
}

/// The cookie that signs a resident in.
pub fn resident_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{RESIDENT_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        state.session_ttl.num_seconds()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_cookie(name: &str) -> (header::HeaderName, String) {
    (header::SET_COOKIE, format!("{name}=; Path=/; HttpOnly; Max-Age=0"))
}

/// A signed-in staff member, as the API sees them, with the CSRF token their forms echo.
pub struct Staff {
    pub caller: Caller,
    pub csrf: String,
}

impl Staff {
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        check_csrf(&self.csrf, sent)
    }
}

pub struct MaybeStaff(pub Option<Staff>);

impl FromRequestParts<AppState> for MaybeStaff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(parts, SESSION_COOKIE) else { return Ok(MaybeStaff(None)) };
        let hash = token_hash(token);
        let Some((stored, user)) = state.store.find_token(&hash).await? else { return Ok(MaybeStaff(None)) };
        if stored.expires_at.is_some_and(|e| e <= state.now()) || user.disabled {
            return Ok(MaybeStaff(None));
        }
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(str::to_owned);
        let csrf = stored.csrf_token.unwrap_or_default();
        Ok(MaybeStaff(Some(Staff { caller: Caller { user, token_hash: hash, request_id }, csrf })))
    }
}

#[allow(clippy::result_large_err)] // the redirect is the page's answer, built once per request
pub fn staff_or_sign_in(maybe: MaybeStaff, back: &str) -> Result<Staff, Response> {
    maybe.0.ok_or_else(|| Redirect::to(&format!("/s/login?next={}", encode(back))).into_response())
}
