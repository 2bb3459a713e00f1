//! Stored columns of the health and credential tables, decoded the same way by both backends.

use chrono::NaiveDate;
use sentinel_core::PersonId;
use sentinel_core::health::{
    Assignment, AssignmentSource, Colour, ExemptionReason, ItineraryStop, NatKind, NatOutcome, NatResult,
    RiskArea, RiskLevel, Vaccination, VaccineExemption,
};

use crate::query::{from_millis, region_code};
use crate::{
    Appeal, AppealStatus, AssignmentRecord, CredentialRecord, KeyPurpose, PersonalDataCipher, Revocation,
    StoreError, StoredKey,
};

/// The associated data of encrypted key secrets.
pub const KEY_SECRET_FIELD: &str = "signing_key.secret";

pub const ASSIGNMENT_COLUMNS: &str = "id, person_id, colour, reason, source, set_by, valid_from, valid_until, \
                                      lifted_at, lifted_by, lift_reason, created_at";
pub const APPEAL_COLUMNS: &str = "a.id, a.assignment_id, c.person_id, a.filed_by, a.statement, a.filed_at, a.status, \
                                  a.decided_by, a.decision_note, a.decided_at";
pub const RISK_AREA_COLUMNS: &str = "id, region_code, name, level, effective_from, effective_to";
pub const KEY_COLUMNS: &str =
    "kid, purpose, algorithm, public_key, secret_enc, not_before, not_after, retired_at, created_at";
pub const CREDENTIAL_COLUMNS: &str =
    "token_id, person_id, kind, kid, issued_at, expires_at, issued_by, revoked_at";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value}"))
}

pub fn date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt("date", s))
}

pub fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub struct AssignmentRow {
    pub id: i64,
    pub person_id: i64,
    pub colour: String,
    pub reason: String,
    pub source: String,
    pub set_by: String,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
    pub created_at: i64,
}

impl AssignmentRow {
    pub fn decode(self) -> Result<AssignmentRecord, StoreError> {
        Ok(AssignmentRecord {
            person_id: PersonId(self.person_id),
            assignment: Assignment {
                id: self.id,
                colour: Colour::from_code(&self.colour).ok_or_else(|| corrupt("colour", &self.colour))?,
                source: AssignmentSource::from_code(&self.source)
                    .ok_or_else(|| corrupt("source", &self.source))?,
                reason: self.reason,
                set_by: self.set_by,
                valid_from: from_millis(self.valid_from)?,
                valid_until: self.valid_until.map(from_millis).transpose()?,
                lifted_at: self.lifted_at.map(from_millis).transpose()?,
            },
            lifted_by: self.lifted_by,
            lift_reason: self.lift_reason,
            created_at: from_millis(self.created_at)?,
        })
    }
}

pub struct AppealRow {
    pub id: i64,
    pub assignment_id: i64,
    pub person_id: i64,
    pub filed_by: String,
    pub statement: String,
    pub filed_at: i64,
    pub status: String,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<i64>,
}

impl AppealRow {
    pub fn decode(self) -> Result<Appeal, StoreError> {
        Ok(Appeal {
            id: self.id,
            assignment_id: self.assignment_id,
            person_id: PersonId(self.person_id),
            filed_by: self.filed_by,
            statement: self.statement,
            filed_at: from_millis(self.filed_at)?,
            status: AppealStatus::from_code(&self.status)
                .ok_or_else(|| corrupt("appeal status", &self.status))?,
            decided_by: self.decided_by,
            decision_note: self.decision_note,
            decided_at: self.decided_at.map(from_millis).transpose()?,
        })
    }
}

pub fn nat(
    sampled_at: i64,
    reported_at: i64,
    outcome: &str,
    kind: &str,
    lab: Option<String>,
) -> Result<NatResult, StoreError> {
    Ok(NatResult {
        sampled_at: from_millis(sampled_at)?,
        reported_at: from_millis(reported_at)?,
        outcome: NatOutcome::from_code(outcome).ok_or_else(|| corrupt("NAT outcome", outcome))?,
        kind: NatKind::from_code(kind).ok_or_else(|| corrupt("NAT kind", kind))?,
        lab,
    })
}

pub fn vaccination(
    dose: i64,
    date_s: &str,
    product: String,
    manufacturer: String,
) -> Result<Vaccination, StoreError> {
    Ok(Vaccination {
        dose: u8::try_from(dose).map_err(|_| corrupt("dose", &dose.to_string()))?,
        date: date(date_s)?,
        product,
        manufacturer,
    })
}

pub fn vaccine_exemption(
    reason: &str,
    issued_by: String,
    from: &str,
    until: Option<String>,
) -> Result<VaccineExemption, StoreError> {
    Ok(VaccineExemption {
        reason: ExemptionReason::from_code(reason).ok_or_else(|| corrupt("exemption reason", reason))?,
        issued_by,
        from: date(from)?,
        until: until.as_deref().map(date).transpose()?,
    })
}

pub fn itinerary(region: &str, from: &str, to: &str) -> Result<ItineraryStop, StoreError> {
    Ok(ItineraryStop { region: region_code(region)?, from: date(from)?, to: date(to)? })
}

pub struct RiskAreaRow {
    pub id: i64,
    pub region_code: String,
    pub name: String,
    pub level: String,
    pub effective_from: i64,
    pub effective_to: Option<i64>,
}

impl RiskAreaRow {
    pub fn decode(self) -> Result<RiskArea, StoreError> {
        Ok(RiskArea {
            id: self.id,
            region: region_code(&self.region_code)?,
            name: self.name,
            level: RiskLevel::from_code(&self.level).ok_or_else(|| corrupt("risk level", &self.level))?,
            effective_from: from_millis(self.effective_from)?,
            effective_to: self.effective_to.map(from_millis).transpose()?,
        })
    }
}

pub struct KeyRow {
    pub kid: String,
    pub purpose: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub secret_enc: Vec<u8>,
    pub not_before: i64,
    pub not_after: Option<i64>,
    pub retired_at: Option<i64>,
    pub created_at: i64,
}

impl KeyRow {
    pub fn decode(self, cipher: &PersonalDataCipher) -> Result<StoredKey, StoreError> {
        let secret = cipher.decrypt_bytes(KEY_SECRET_FIELD, &self.secret_enc)?;
        Ok(StoredKey {
            purpose: KeyPurpose::from_code(&self.purpose)
                .ok_or_else(|| corrupt("key purpose", &self.purpose))?,
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            secret,
            not_before: from_millis(self.not_before)?,
            not_after: self.not_after.map(from_millis).transpose()?,
            retired_at: self.retired_at.map(from_millis).transpose()?,
            created_at: from_millis(self.created_at)?,
        })
    }
}

pub struct CredentialRow {
    pub token_id: Vec<u8>,
    pub person_id: i64,
    pub kind: String,
    pub kid: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub issued_by: String,
    pub revoked_at: Option<i64>,
}

impl CredentialRow {
    pub fn decode(self) -> Result<CredentialRecord, StoreError> {
        Ok(CredentialRecord {
            token_id: self.token_id,
            person_id: PersonId(self.person_id),
            kind: self.kind,
            kid: self.kid,
            issued_at: from_millis(self.issued_at)?,
            expires_at: from_millis(self.expires_at)?,
            issued_by: self.issued_by,
            revoked_at: self.revoked_at.map(from_millis).transpose()?,
        })
    }
}

pub fn revocation(
    seq: i64,
    token_id: Vec<u8>,
    revoked_at: i64,
    reason: String,
) -> Result<Revocation, StoreError> {
    Ok(Revocation { seq, token_id, revoked_at: from_millis(revoked_at)?, reason })
}
