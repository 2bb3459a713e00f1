//! What both backends share: filters rendered to SQL with the dialect's placeholders, the encrypted
//! form of a person, and decoding of stored columns back into domain types.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sentinel_core::{
    DeviceId, DeviceKind, PersonId, PersonName, PhoneNumber, RegionCode, ResidentIdNumber, Role, Scope,
    UserId, VenueCategory, VenueId,
};

use crate::model::*;
use crate::{PersonalDataCipher, StoreError};

/// Field names: the AEAD associated data and blind-index domain of each personal column.
pub mod field {
    pub const ID_NUMBER: &str = "person.id_number";
    pub const NAME: &str = "person.name";
    pub const PHONE: &str = "person.phone";
    pub const ADDRESS: &str = "person.address";
}

/// A bound parameter, converted by each backend into its own type.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
}

/// The placeholder style of a backend.
#[derive(Debug, Clone, Copy)]
pub enum Dialect {
    /// `?1`, `?2`, …
    Sqlite,
    /// `$1`, `$2`, …
    Postgres,
}

/// A WHERE clause under construction.
#[derive(Debug)]
pub struct Where {
    dialect: Dialect,
    clauses: Vec<String>,
    pub params: Vec<SqlValue>,
}

impl Where {
    pub fn new(dialect: Dialect) -> Self {
        Self { dialect, clauses: Vec::new(), params: Vec::new() }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    pub fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// `WHERE a AND b …`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!("WHERE {}", self.clauses.join(" AND ")) }
    }

    fn substring(&self, column: &str, needle: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("instr({column}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({column}, {needle}) > 0"),
        }
    }

    /// Restricts `column` (a region code) to a region's subtree. Codes are digits only, so the prefix
    /// needs no LIKE escaping.
    pub fn region_subtree(&mut self, column: &str, region: &RegionCode) {
        let p = self.bind(SqlValue::Text(region.subtree_like()));
        self.push(format!("{column} LIKE {p}"));
    }

    /// The venue filter over a venues table aliased `v`.
    pub fn venue_filter(&mut self, filter: &VenueFilter) {
        self.push("v.deleted_at IS NULL".into());
        match &filter.scope {
            None | Some(Scope::All) => {}
            Some(Scope::Region(r)) => self.region_subtree("v.region_code", r),
            Some(Scope::Category(c)) => {
                let p = self.bind(SqlValue::Text(c.code().into()));
                self.push(format!("v.category = {p}"));
            }
            Some(Scope::Venue(id)) => {
                let p = self.bind(SqlValue::Int(id.0));
                self.push(format!("v.id = {p}"));
            }
        }
        if let Some(r) = &filter.region {
            self.region_subtree("v.region_code", r);
        }
        if let Some(c) = filter.category {
            let p = self.bind(SqlValue::Text(c.code().into()));
            self.push(format!("v.category = {p}"));
        }
        if let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let p = self.bind(SqlValue::Text(text.into()));
            let by_name = self.substring("v.name", &p);
            let by_address = self.substring("v.address", &p);
            self.push(format!("({by_name} OR {by_address})"));
        }
    }

    /// Keyset pagination over `column`, ascending.
    pub fn after(&mut self, column: &str, page: PageRequest) {
        if let Some(after) = page.after {
            let p = self.bind(SqlValue::Int(after));
            self.push(format!("{column} > {p}"));
        }
    }
}

pub const VENUE_COLUMNS: &str = "v.id, v.name, v.category, v.region_code, v.address, v.lat, v.lon, v.capacity, v.created_at, v.updated_at, v.place_code_version";
pub const PERSON_COLUMNS: &str =
    "id, region_code, id_number_enc, name_enc, phone_enc, address_enc, created_at";
pub const USER_COLUMNS: &str =
    "u.id, u.username, u.password_hash, u.role, u.scope, u.display_name, u.disabled, u.created_at";
pub const DEVICE_COLUMNS: &str =
    "d.id, d.venue_id, d.kind, d.serial, d.name, d.created_at, d.token_hash IS NOT NULL";
/// How many columns `DEVICE_COLUMNS` selects: where the columns joined after them start.
pub const DEVICE_COLUMN_COUNT: usize = 7;

/// SQL (both backends): the escalation rank of the region code `code` names, told by its length (grid 3,
/// community 2, street 1, district and above 0: `RegionLevel::escalation_rank`).
pub fn region_rank(code: &str) -> String {
    format!("(CASE length({code}) WHEN 15 THEN 3 WHEN 12 THEN 2 WHEN 9 THEN 1 ELSE 0 END)")
}

/// SQL: the escalation rank of the regions that hear an alert raised in `code` once it has been
/// escalated `level` times; a region webhook hears it when this is its `audience_level`. Never negative,
/// since escalation stops at the region's rank (where `RegionLevel::hears_alert` saturates).
pub fn alert_audience_rank(code: &str, level: &str) -> String {
    format!("({} - {level})", region_rank(code))
}
pub const AUDIT_COLUMNS: &str = "id, at, actor, action, subject, purpose, detail, request_id";

pub fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms}")))
}

pub fn region_code(s: &str) -> Result<RegionCode, StoreError> {
    RegionCode::parse(s).map_err(|_| StoreError::Corrupt(format!("region code {s}")))
}

pub fn category(s: &str) -> Result<VenueCategory, StoreError> {
    VenueCategory::from_code(s).ok_or_else(|| StoreError::Corrupt(format!("venue category {s}")))
}

/// The columns of a venue row, as both backends read them.
pub struct VenueRow {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub region_code: String,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub capacity: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub place_code_version: i64,
}

impl VenueRow {
    pub fn decode(self) -> Result<Venue, StoreError> {
        Ok(Venue {
            id: VenueId(self.id),
            name: self.name,
            category: category(&self.category)?,
            region_code: region_code(&self.region_code)?,
            address: self.address,
            lat: self.lat,
            lon: self.lon,
            capacity: self.capacity,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
            place_code_version: u32::try_from(self.place_code_version).map_err(|_| {
                StoreError::Corrupt(format!("place-code version {}", self.place_code_version))
            })?,
        })
    }
}

/// A person's columns as stored: personal fields encrypted, lookups by blind index.
pub struct EncryptedPerson {
    pub region_code: String,
    pub id_number_enc: Vec<u8>,
    pub id_number_bidx: Vec<u8>,
    pub name_enc: Vec<u8>,
    pub phone_enc: Option<Vec<u8>>,
    pub phone_bidx: Option<Vec<u8>>,
    pub address_enc: Option<Vec<u8>>,
}

impl EncryptedPerson {
    pub fn seal(cipher: &PersonalDataCipher, p: &NewPerson) -> Self {
        Self {
            region_code: p.region_code.to_string(),
            id_number_enc: cipher.encrypt(field::ID_NUMBER, p.id_number.as_str()),
            id_number_bidx: id_number_index(cipher, &p.id_number),
            name_enc: cipher.encrypt(field::NAME, p.name.as_str()),
            phone_enc: p.phone.as_ref().map(|ph| cipher.encrypt(field::PHONE, ph.as_str())),
            phone_bidx: p.phone.as_ref().map(|ph| phone_index(cipher, ph)),
            address_enc: p.address.as_ref().map(|a| cipher.encrypt(field::ADDRESS, a)),
        }
    }
}

pub fn id_number_index(cipher: &PersonalDataCipher, id: &ResidentIdNumber) -> Vec<u8> {
    cipher.blind_index(field::ID_NUMBER, id.as_str())
}

pub fn phone_index(cipher: &PersonalDataCipher, phone: &PhoneNumber) -> Vec<u8> {
    cipher.blind_index(field::PHONE, phone.as_str())
}

/// The columns of a person row, still encrypted.
pub struct PersonRow {
    pub id: i64,
    pub region_code: String,
    pub id_number_enc: Vec<u8>,
    pub name_enc: Vec<u8>,
    pub phone_enc: Option<Vec<u8>>,
    pub address_enc: Option<Vec<u8>>,
    pub created_at: i64,
}

impl PersonRow {
    pub fn open(self, cipher: &PersonalDataCipher) -> Result<Person, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("person {} {what}", self.id));
        let id_number = cipher.decrypt(field::ID_NUMBER, &self.id_number_enc)?;
        // Stored numbers were validated on the way in; the birth-date bound does not apply again.
        let id_number =
            ResidentIdNumber::parse(&id_number, NaiveDate::MAX).map_err(|_| corrupt("id number"))?;
        let name =
            PersonName::parse(&cipher.decrypt(field::NAME, &self.name_enc)?).map_err(|_| corrupt("name"))?;
        let phone = match &self.phone_enc {
            Some(enc) => {
                Some(PhoneNumber::parse(&cipher.decrypt(field::PHONE, enc)?).map_err(|_| corrupt("phone"))?)
            }
            None => None,
        };
        let address = match &self.address_enc {
            Some(enc) => Some(cipher.decrypt(field::ADDRESS, enc)?),
            None => None,
        };
        Ok(Person {
            id: PersonId(self.id),
            id_number,
            name,
            phone,
            address,
            region_code: region_code(&self.region_code)?,
            created_at: from_millis(self.created_at)?,
        })
    }
}

pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub scope: String,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
}

impl UserRow {
    pub fn decode(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId(self.id),
            role: Role::from_code(&self.role)
                .ok_or_else(|| StoreError::Corrupt(format!("role {}", self.role)))?,
            scope: Scope::parse(&self.scope)
                .map_err(|_| StoreError::Corrupt(format!("scope {}", self.scope)))?,
            username: self.username,
            password_hash: self.password_hash,
            display_name: self.display_name,
            disabled: self.disabled,
            created_at: from_millis(self.created_at)?,
        })
    }
}

pub struct DeviceRow {
    pub id: i64,
    pub venue_id: i64,
    pub kind: String,
    pub serial: String,
    pub name: String,
    pub created_at: i64,
    pub token_active: bool,
}

impl DeviceRow {
    pub fn decode(self) -> Result<Device, StoreError> {
        Ok(Device {
            id: DeviceId(self.id),
            venue_id: VenueId(self.venue_id),
            kind: DeviceKind::from_code(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("device kind {}", self.kind)))?,
            serial: self.serial,
            name: self.name,
            created_at: from_millis(self.created_at)?,
            token_active: self.token_active,
        })
    }
}

pub struct TokenRow {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub kind: String,
    pub name: Option<String>,
    pub csrf_token: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl TokenRow {
    pub fn decode(self) -> Result<AuthToken, StoreError> {
        Ok(AuthToken {
            kind: TokenKind::from_code(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("token kind {}", self.kind)))?,
            token_hash: self.token_hash,
            user_id: UserId(self.user_id),
            name: self.name,
            csrf_token: self.csrf_token,
            created_at: from_millis(self.created_at)?,
            expires_at: self.expires_at.map(from_millis).transpose()?,
        })
    }
}

pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

impl AuditRow {
    pub fn decode(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            id: self.id,
            at: from_millis(self.at)?,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            purpose: self.purpose,
            detail: self.detail,
            request_id: self.request_id,
        })
    }
}

/// The audit filter; audit pages run newest first, so the cursor bounds ids from above.
pub fn audit_where(dialect: Dialect, filter: &AuditFilter, page: PageRequest) -> Where {
    let mut w = Where::new(dialect);
    for (column, value) in
        [("actor", &filter.actor), ("subject", &filter.subject), ("action", &filter.action)]
    {
        if let Some(v) = value {
            let p = w.bind(SqlValue::Text(v.clone()));
            w.push(format!("{column} = {p}"));
        }
    }
    if let Some(before) = page.after {
        let p = w.bind(SqlValue::Int(before));
        w.push(format!("id < {p}"));
    }
    w
}

pub struct RegionRow {
    pub code: String,
    pub name_zh: String,
    pub name_en: Option<String>,
}

impl RegionRow {
    pub fn decode(self) -> Result<Region, StoreError> {
        Ok(Region { code: region_code(&self.code)?, name_zh: self.name_zh, name_en: self.name_en })
    }
}
