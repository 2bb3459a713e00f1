//! The records the store keeps, in domain types. Personal fields are plain here: the store encrypts
//! them on the way in and decrypts them on the way out.

use chrono::{DateTime, Utc};
use sentinel_core::{
    DeviceId, DeviceKind, PersonId, PersonName, PhoneNumber, RegionCode, ResidentIdNumber, Role, Scope,
    UserId, VenueCategory, VenueId,
};

/// One node of the region tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub code: RegionCode,
    pub name_zh: String,
    pub name_en: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    pub category: VenueCategory,
    pub region_code: RegionCode,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The current poster's version: a place code of an older one is retired.
    pub place_code_version: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVenue {
    pub name: String,
    pub category: VenueCategory,
    pub region_code: RegionCode,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VenueUpdate {
    pub name: Option<String>,
    pub category: Option<VenueCategory>,
    pub region_code: Option<RegionCode>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
}

/// What a venue list is restricted to; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct VenueFilter {
    /// Only venues this scope covers (the caller's).
    pub scope: Option<Scope>,
    /// Only venues in this region's subtree.
    pub region: Option<RegionCode>,
    pub category: Option<VenueCategory>,
    /// Substring of the name or address.
    pub text: Option<String>,
}

/// A person as the registry knows them, decrypted. `Debug` masks every personal field.
#[derive(Clone, PartialEq)]
pub struct Person {
    pub id: PersonId,
    pub id_number: ResidentIdNumber,
    pub name: PersonName,
    pub phone: Option<PhoneNumber>,
    pub address: Option<String>,
    /// Home grid or community.
    pub region_code: RegionCode,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq)]
pub struct NewPerson {
    pub id_number: ResidentIdNumber,
    pub name: PersonName,
    pub phone: Option<PhoneNumber>,
    pub address: Option<String>,
    pub region_code: RegionCode,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("id_number", &self.id_number)
            .field("name", &self.name)
            .field("phone", &self.phone)
            .field("address", &self.address.as_ref().map(|_| "***"))
            .field("region_code", &self.region_code)
            .finish()
    }
}

impl std::fmt::Debug for NewPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPerson")
            .field("id_number", &self.id_number)
            .field("name", &self.name)
            .field("phone", &self.phone)
            .field("address", &self.address.as_ref().map(|_| "***"))
            .field("region_code", &self.region_code)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: DeviceId,
    pub venue_id: VenueId,
    pub kind: DeviceKind,
    pub serial: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Whether the device holds a bearer token (none before one is issued and after it is revoked).
    pub token_active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    pub venue_id: VenueId,
    pub kind: DeviceKind,
    pub serial: String,
    pub name: String,
}

#[derive(Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Argon2 PHC string; never leaves the server.
    pub password_hash: String,
    pub role: Role,
    pub scope: Scope,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"***")
            .field("role", &self.role)
            .field("scope", &self.scope)
            .field("disabled", &self.disabled)
            .finish()
    }
}

#[derive(Clone, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub scope: Scope,
    pub display_name: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a bearer token or session cookie is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// From a password login; expires; cookie-borne use needs the CSRF token.
    Session,
    /// For integrations (authority feeds, scripts); no CSRF, optional expiry.
    Api,
}

impl TokenKind {
    pub fn code(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "session" => Some(TokenKind::Session),
            "api" => Some(TokenKind::Api),
            _ => None,
        }
    }
}

/// A stored token: only its SHA-256 hash is kept.
#[derive(Clone, PartialEq)]
pub struct AuthToken {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub kind: TokenKind,
    pub name: Option<String>,
    pub csrf_token: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One audit record: who did what to whose data, why and when.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub action: Option<String>,
}

/// Keyset pagination: items after `after` (by id), at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Self { after: None, limit: limit.clamp(1, Self::MAX_LIMIT) }
    }
}

/// Every item of a paged list, fetched page after page (tools and short lists: it holds them all).
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, crate::StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, crate::StoreError>>,
{
    let mut items = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = fetch(page).await?;
        items.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(items),
        }
    }
}

/// A page of results and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order; the extra row proves there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> i64) -> Self {
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(&id_of)
        } else {
            None
        };
        Page { items: rows, next }
    }
}
