//! Authentication and authorisation: argon2 password hashes, opaque bearer tokens (only their SHA-256 is
//! stored), the session cookie with its CSRF token, and the [`Caller`] every protected handler receives.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use base64::Engine;
use rand::RngCore;
use sentinel_core::{Permission, RegionCode, Role, Scope};
use sentinel_store::{AuthToken, NewUser, Store, TokenKind, User, Venue};
use sha2::{Digest, Sha256};
use tower_http::request_id::RequestId;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "sentinel_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
const TOKEN_PREFIX: &str = "snt_";

/// Hashes a password with Argon2id on the blocking pool (it is deliberately slow).
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|_| ApiError::internal())
}

pub async fn verify_password(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// An Argon2 hash of nothing anyone knows, verified against for unknown users (made once per process).
pub async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash_password(new_csrf()).await.unwrap_or_default() }).await.clone()
}

/// A fresh random token and the hash under which it is stored.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A random value for CSRF tokens.
pub fn new_csrf() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The authenticated user behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// The hash of the token this request authenticated with (logout deletes it).
    pub token_hash: Vec<u8>,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.user.role.allows(permission) { Ok(()) } else { Err(ApiError::forbidden()) }
    }

    /// The permission, over the whole deployment: for what spans every region (webhooks hear every alert,
    /// the audit log names whose data was read anywhere).
    pub fn require_deployment_wide(&self, permission: Permission) -> ApiResult<()> {
        self.require(permission)?;
        if self.user.scope == sentinel_core::Scope::All { Ok(()) } else { Err(ApiError::out_of_scope()) }
    }

    /// The permission, for something registered in `region` (a person's home).
    pub fn require_region(&self, permission: Permission, region: &RegionCode) -> ApiResult<()> {
        self.require(permission)?;
        if self.user.scope.covers_region(region) { Ok(()) } else { Err(ApiError::out_of_scope()) }
    }

    pub fn require_venue(&self, permission: Permission, venue: &Venue) -> ApiResult<()> {
        self.require(permission)?;
        if self.user.scope.covers_venue(venue.id, venue.category, &venue.region_code) {
            Ok(())
        } else {
            Err(ApiError::out_of_scope())
        }
    }

    /// The region subtree the caller's person reads are bounded to (`None` = everywhere).
    pub fn person_region(&self) -> ApiResult<Option<RegionCode>> {
        match &self.user.scope {
            Scope::All => Ok(None),
            Scope::Region(r) => Ok(Some(r.clone())),
            Scope::Category(_) | Scope::Venue(_) => Err(ApiError::out_of_scope()),
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, from_cookie) = match bearer(parts) {
            Some(t) => (t, false),
            None => (cookie(parts, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?, true),
        };
        let hash = token_hash(token);
        let (stored, user) = state.store.find_token(&hash).await?.ok_or_else(ApiError::unauthenticated)?;
        if stored.expires_at.is_some_and(|e| e <= state.now()) || user.disabled {
            return Err(ApiError::unauthenticated());
        }
        // A browser sends the cookie by itself, so state-changing requests must also prove they come
        // from our own pages by echoing the CSRF token.
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && unsafe_method {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent.is_none() || sent != stored.csrf_token.as_deref() {
                return Err(ApiError::csrf());
            }
        }
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(str::to_owned);
        Ok(Caller { user, token_hash: hash, request_id })
    }
}

/// Creates a session for a user: the token (returned once) and its stored record.
pub async fn create_session(
    store: &dyn Store,
    user: &User,
    now: chrono::DateTime<chrono::Utc>,
    ttl: chrono::Duration,
) -> ApiResult<(String, AuthToken)> {
    let (token, hash) = new_token();
    let record = AuthToken {
        token_hash: hash,
        user_id: user.id,
        kind: TokenKind::Session,
        name: None,
        csrf_token: Some(new_csrf()),
        created_at: now,
        expires_at: Some(now + ttl),
    };
    store.create_token(&record).await?;
    Ok((token, record))
}

/// Creates the administrator named by `user:password` when the store has no user at all.
pub async fn bootstrap_admin(
    store: &dyn Store,
    spec: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, String> {
    if store.count_users().await.map_err(|e| e.to_string())? > 0 {
        return Ok(None);
    }
    let (username, password) = spec
        .split_once(':')
        .filter(|(u, p)| !u.is_empty() && !p.is_empty())
        .ok_or("SENTINEL_BOOTSTRAP_ADMIN must be user:password")?;
    crate::api::users::validate_credentials(username, password).map_err(|e| format!("{e:?}"))?;
    let hash = hash_password(password.to_owned()).await.map_err(|_| "cannot hash password".to_owned())?;
    let user = NewUser {
        username: username.to_owned(),
        password_hash: hash,
        role: Role::Admin,
        scope: Scope::All,
        display_name: Some("系统管理员".into()),
    };
    store.create_user(&user, now).await.map_err(|e| e.to_string())?;
    Ok(Some(username.to_owned()))
}

/// The device behind a device API request (数字哨兵, handheld, wall scanner), by its bearer token.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    pub device: sentinel_store::Device,
    pub venue: Venue,
}

/// Prefix of device tokens, so a leaked one is recognisable in logs and scanners.
pub const DEVICE_TOKEN_PREFIX: &str = "dev_";

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .filter(|t| t.starts_with(DEVICE_TOKEN_PREFIX))
            .ok_or_else(ApiError::unauthenticated)?;
        let (device, venue) = state
            .devices
            .resolve(&*state.store, &token_hash(token))
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(DeviceCaller { device, venue })
    }
}

/// A fresh device token and its stored hash.
pub fn new_device_token() -> (String, Vec<u8>) {
    let (token, _) = new_token();
    let token = format!("{DEVICE_TOKEN_PREFIX}{}", token.trim_start_matches(TOKEN_PREFIX));
    let hash = token_hash(&token);
    (token, hash)
}
