//! Health codes: issuing dynamic and paper codes, printable paper cards, verification, revocation, the
//! trust list and the revocation log devices sync from, and QR rendering.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, FixedOffset};
use sentinel_core::health::LiveStatus;
use sentinel_core::{Permission, PersonId};
use sentinel_credential::{CredentialKind, HealthClaims, StatusSnapshot, TokenId};
use sentinel_store::{CredentialRecord, Person, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::List;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// A dynamic code lives 120 s; the phone refreshes it every 60 s.
pub const DYNAMIC_LIFETIME: Duration = Duration::seconds(120);
pub const DYNAMIC_REFRESH_SECONDS: u32 = 60;
/// A paper code (纸质码) lives 24 hours.
pub const PAPER_LIFETIME: Duration = Duration::hours(24);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The pseudonymous subject of a person's codes: never the ID number.
pub fn subject_of(person: PersonId) -> String {
    format!("p:{person}")
}

pub fn person_of(subject: &str) -> Option<PersonId> {
    subject.strip_prefix("p:")?.parse().ok().map(PersonId)
}

pub async fn person_in_scope(
    state: &AppState,
    caller: &Caller,
    permission: Permission,
    id: i64,
) -> ApiResult<Person> {
    caller.require(permission)?;
    let person = state.store.get_person(PersonId(id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("person"),
        other => other.into(),
    })?;
    caller.require_region(permission, &person.region_code)?;
    Ok(person)
}

fn snapshot(s: &LiveStatus) -> StatusSnapshot {
    StatusSnapshot {
        colour: s.colour,
        nat_sampled_at: s.last_nat.as_ref().map(|n| n.sampled_at),
        nat_outcome: s.last_nat.as_ref().map(|n| n.outcome),
        vaccine_doses: s.vaccine_doses,
        itinerary_risk: s.itinerary_risk,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCode {
    /// `SN1:…`: put it in a QR code as it is.
    pub token: String,
    pub token_id: String,
    /// `dynamic` or `paper`
    pub kind: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<FixedOffset>,
    /// The colour the code carries.
    pub colour: &'static str,
    /// Dynamic codes: fetch a new one after this many seconds.
    pub refresh_after_seconds: Option<u32>,
    /// Paper codes: the printable A6 card.
    pub card_url: Option<String>,
}

/// Signs a code for the person carrying their current status; a paper code is recorded (revocable) and
/// audited as issued by `actor`.
pub async fn issue(
    state: &AppState,
    actor: &super::audit::Actor,
    person: &Person,
    kind: CredentialKind,
) -> ApiResult<IssuedCode> {
    let now = state.now();
    let status = state.status.status(&*state.store, person.id, now, state.tz).await?;
    // Whole seconds: the CWT times are integers, and the code must not look issued in the future.
    let issued_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let lifetime = if kind == CredentialKind::Paper { PAPER_LIFETIME } else { DYNAMIC_LIFETIME };
    let claims = HealthClaims {
        issuer: state.issuer.clone(),
        subject: subject_of(person.id),
        token_id: TokenId::random(),
        issued_at,
        expires_at: issued_at + lifetime,
        kind,
        status: snapshot(&status),
    };
    let token = state.keyring.issue(&claims);
    if kind == CredentialKind::Paper {
        state
            .store
            .record_credential(&CredentialRecord {
                token_id: claims.token_id.0.to_vec(),
                person_id: person.id,
                kind: kind.code().into(),
                kid: state.keyring.issuer_kid(),
                issued_at,
                expires_at: claims.expires_at,
                issued_by: actor.name.clone(),
                revoked_at: None,
            })
            .await?;
        let subject = Some(format!("person:{}", person.id));
        super::audit::record_by(
            state,
            actor,
            "credential.paper.issue",
            subject,
            None,
            Some(claims.token_id.to_hex()),
        )
        .await?;
    }
    Ok(IssuedCode {
        token,
        token_id: claims.token_id.to_hex(),
        kind: kind.code(),
        issued_at: state.local(issued_at),
        expires_at: state.local(claims.expires_at),
        colour: status.colour.code(),
        refresh_after_seconds: (kind == CredentialKind::Dynamic).then_some(DYNAMIC_REFRESH_SECONDS),
        card_url: (kind == CredentialKind::Paper)
            .then(|| format!("/api/v1/credentials/{}/card.svg", claims.token_id.to_hex())),
    })
}

/// Issues a dynamic health code (lives 120 s, refresh every 60 s) carrying the current status.
#[utoipa::path(post, path = "/api/v1/persons/{id}/health-code", tag = "credentials",
    responses((status = 200, body = IssuedCode), (status = 403, body = crate::error::Problem)))]
pub async fn issue_health_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IssuedCode>> {
    let person = person_in_scope(&state, &caller, Permission::IssueCredentials, id).await?;
    Ok(Json(issue(&state, &(&caller).into(), &person, CredentialKind::Dynamic).await?))
}

/// Issues a 24-hour paper code (纸质码) for a person without a phone; revocable, printable.
#[utoipa::path(post, path = "/api/v1/persons/{id}/paper-code", tag = "credentials",
    responses((status = 200, body = IssuedCode), (status = 403, body = crate::error::Problem)))]
pub async fn issue_paper_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IssuedCode>> {
    let person = person_in_scope(&state, &caller, Permission::IssueCredentials, id).await?;
    Ok(Json(issue(&state, &(&caller).into(), &person, CredentialKind::Paper).await?))
}

fn token_id(raw: &str) -> ApiResult<TokenId> {
    TokenId::from_hex(raw).ok_or_else(|| ApiError::not_found("credential"))
}

async fn paper_record(state: &AppState, caller: &Caller, raw: &str) -> ApiResult<CredentialRecord> {
    let id = token_id(raw)?;
    let record = state.store.get_credential(&id.0).await?.ok_or_else(|| ApiError::not_found("credential"))?;
    person_in_scope(state, caller, Permission::IssueCredentials, record.person_id.0).await?;
    Ok(record)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeInput {
    /// Why, e.g. `遗失` (lost) or `重新打印` (reprinted).
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationView {
    pub seq: i64,
    pub token_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub revoked_at: DateTime<FixedOffset>,
    pub reason: String,
}

/// Revokes a paper code; devices learn it through `/api/v1/revocations`.
#[utoipa::path(post, path = "/api/v1/credentials/{token_id}/revoke", tag = "credentials", request_body = RevokeInput,
    responses((status = 200, body = RevocationView), (status = 404, body = crate::error::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
    ApiJson(input): ApiJson<RevokeInput>,
) -> ApiResult<Json<RevocationView>> {
    let record = paper_record(&state, &caller, &raw).await?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid("reason", "原因应为1–200个字符 / reason must be 1–200 characters"));
    }
    let r = state.store.revoke_credential(&record.token_id, state.now(), reason).await?;
    if let Some(id) = TokenId::from_slice(&r.token_id) {
        state.keyring.mark_revoked(id);
    }
    let subject = Some(format!("person:{}", record.person_id));
    super::audit::record(
        &state,
        &caller,
        "credential.revoke",
        subject,
        None,
        Some(format!("{raw}: {reason}")),
    )
    .await?;
    Ok(Json(RevocationView {
        seq: r.seq,
        token_id: raw.to_lowercase(),
        revoked_at: state.local(r.revoked_at),
        reason: r.reason,
    }))
}

/// The printable A6 paper card: QR code, masked name, valid until.
#[utoipa::path(get, path = "/api/v1/credentials/{token_id}/card.svg", tag = "credentials",
    responses((status = 200, content_type = "image/svg+xml", body = String)))]
pub async fn paper_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Response> {
    let record = paper_record(&state, &caller, &raw).await?;
    if record.revoked_at.is_some() {
        return Err(ApiError::not_found("credential").with_detail("已作废 / revoked"));
    }
    let person = state.store.get_person(record.person_id).await?;
    // The token itself is not stored: a card is re-signed with the same id and period.
    let status = state.status.status(&*state.store, person.id, state.now(), state.tz).await?;
    // Signed again under the same id and expiry; if the key has been rotated since, the card carries the
    // reprint time as its issue time, so that the current key was valid when it signed.
    let now = state.now();
    let issued_at = if record.kid == state.keyring.issuer_kid() {
        record.issued_at
    } else {
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    };
    let claims = HealthClaims {
        issuer: state.issuer.clone(),
        subject: subject_of(person.id),
        token_id: token_id(&raw)?,
        issued_at,
        expires_at: record.expires_at,
        kind: CredentialKind::Paper,
        status: snapshot(&status),
    };
    let token = state.keyring.issue(&claims);
    let qr = sentinel_credential::qr::svg(&token, 300).map_err(|_| ApiError::internal())?;
    let svg = paper_card_svg(
        &qr,
        &person.name.masked(),
        &state.local(record.expires_at).format("%Y-%m-%d %H:%M").to_string(),
    );
    Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], svg).into_response())
}

/// An A6 card (105 × 148 mm) around a QR SVG.
pub fn paper_card_svg(qr_svg: &str, masked_name: &str, valid_until: &str) -> String {
    let qr_body = qr_svg.find("<svg").map_or(qr_svg, |i| &qr_svg[i..]);
    let qr_inner = qr_body.replacen("<svg", r#"<svg x="12.5" y="30" width="80" height="80""#, 1);
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="105mm" height="148mm" viewBox="0 0 105 148" font-family="Noto Sans CJK SC, Source Han Sans SC, sans-serif">
<rect width="105" height="148" fill="#ffffff" stroke="#2e7d32" stroke-width="1"/>
<text x="52.5" y="14" font-size="7" text-anchor="middle" font-weight="bold">纸质健康码</text>
<text x="52.5" y="21" font-size="3.5" text-anchor="middle">Paper health code · 24小时有效</text>
{qr_inner}
<text x="52.5" y="122" font-size="6" text-anchor="middle">{name}</text>
<text x="52.5" y="131" font-size="4" text-anchor="middle">有效期至 {until}</text>
<text x="52.5" y="138" font-size="3" text-anchor="middle">Valid until {until} · 请妥善保管，遗失请联系社区作废</text>
</svg>
"##,
        name = xml_escape(masked_name),
        until = xml_escape(valid_until),
    )
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyInput {
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    pub colour: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub nat_sampled_at: Option<DateTime<FixedOffset>>,
    /// `negative` or `positive`
    pub nat_result: Option<&'static str>,
    pub vaccine_doses: u8,
    pub itinerary_risk: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimsView {
    pub issuer: String,
    pub subject: String,
    pub person_id: Option<i64>,
    pub token_id: String,
    pub kind: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<FixedOffset>,
    pub status: StatusView,
}

/// `{"valid": true, "claims": …}` or `{"valid": false, "error": "expired", …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsView>,
    /// malformed, unknown_key, bad_signature, not_yet_valid, expired or revoked
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_en: Option<&'static str>,
}

pub fn claims_view(state: &AppState, c: &HealthClaims) -> ClaimsView {
    ClaimsView {
        issuer: c.issuer.clone(),
        person_id: person_of(&c.subject).map(|p| p.0),
        subject: c.subject.clone(),
        token_id: c.token_id.to_hex(),
        kind: c.kind.code(),
        issued_at: state.local(c.issued_at),
        expires_at: state.local(c.expires_at),
        status: StatusView {
            colour: c.status.colour.code(),
            nat_sampled_at: c.status.nat_sampled_at.map(|t| state.local(t)),
            nat_result: c.status.nat_outcome.map(|o| o.code()),
            vaccine_doses: c.status.vaccine_doses,
            itinerary_risk: c.status.itinerary_risk,
        },
    }
}

/// Verifies a health or paper code: signature by a trusted key, validity window, revocation.
#[utoipa::path(post, path = "/api/v1/credentials/verify", tag = "credentials", request_body = VerifyInput,
    responses((status = 200, body = VerifyResult)))]
pub async fn verify(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(input): ApiJson<VerifyInput>,
) -> Json<VerifyResult> {
    Json(match state.keyring.verify(&input.token, state.now()) {
        Ok(claims) => VerifyResult {
            valid: true,
            claims: Some(claims_view(&state, &claims)),
            error: None,
            message_zh: None,
            message_en: None,
        },
        Err(e) => VerifyResult {
            valid: false,
            claims: None,
            error: Some(e.code()),
            message_zh: Some(e.message_zh()),
            message_en: Some(e.message_en()),
        },
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedKeyView {
    /// Hex key id (the COSE `kid`).
    pub kid: String,
    pub alg: &'static str,
    /// Raw public key, base64url.
    pub public_key: String,
    /// Codes issued from this time on are accepted…
    #[schema(value_type = String, format = DateTime)]
    pub not_before: DateTime<FixedOffset>,
    /// …and until this time (set when the key was rotated out).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_after: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustListView {
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: DateTime<FixedOffset>,
    /// The trust anchor devices pin; it signs `signed`.
    pub anchor: TrustedKeyAnchor,
    pub keys: Vec<TrustedKeyView>,
    /// COSE_Sign1 by the anchor over the same keys (CBOR), base64url.
    pub signed: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedKeyAnchor {
    pub kid: String,
    pub alg: &'static str,
    pub public_key: String,
}

/// The signed list of issuer keys devices verify codes against. Public.
#[utoipa::path(get, path = "/api/v1/trust-list", tag = "credentials", security(()),
    responses((status = 200, body = TrustListView)))]
pub async fn trust_list(State(state): State<AppState>) -> Json<TrustListView> {
    let t = state.keyring.trust_list(state.now());
    Json(TrustListView {
        version: t.version,
        issued_at: state.local(t.issued_at),
        anchor: TrustedKeyAnchor {
            kid: t.anchor.kid().to_hex(),
            alg: t.anchor.algorithm().code(),
            public_key: b64(&t.anchor.to_bytes()),
        },
        keys: t
            .keys
            .iter()
            .map(|k| TrustedKeyView {
                kid: k.key.kid().to_hex(),
                alg: k.key.algorithm().code(),
                public_key: b64(&k.key.to_bytes()),
                not_before: state.local(k.not_before),
                not_after: k.not_after.map(|t| state.local(t)),
            })
            .collect(),
        signed: b64(&t.signed),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RevocationQuery {
    /// The `next` of the previous answer (0 or absent: from the start).
    pub since: Option<i64>,
    pub limit: Option<u32>,
}

/// The revocation log after `since`, for devices' delta sync. Public: it holds token ids only.
#[utoipa::path(get, path = "/api/v1/revocations", tag = "credentials", security(()), params(RevocationQuery),
    responses((status = 200, body = List<RevocationView>)))]
pub async fn revocations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RevocationQuery>,
) -> ApiResult<Json<List<RevocationView>>> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let since = q.since.unwrap_or(0).max(0);
    let items = state.store.revocations_since(since, limit).await?;
    let next = items.last().map_or(since, |r| r.seq);
    Ok(Json(List {
        items: items
            .into_iter()
            .map(|r| RevocationView {
                seq: r.seq,
                token_id: hex::encode(&r.token_id),
                revoked_at: state.local(r.revoked_at),
                reason: r.reason,
            })
            .collect(),
        // Devices keep polling with the last sequence number they saw.
        next: Some(next.to_string()),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct QrInput {
    /// What to encode (a token or a URL).
    pub text: String,
    /// `svg` (default) or `png`
    pub format: Option<String>,
    /// Pixels per module for PNG (default 8).
    pub scale: Option<u32>,
}

/// Renders a QR code as SVG or PNG.
#[utoipa::path(post, path = "/api/v1/qr", tag = "credentials", request_body = QrInput,
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 200, content_type = "image/png", body = Vec<u8>)))]
pub async fn qr(_caller: Caller, ApiJson(input): ApiJson<QrInput>) -> ApiResult<Response> {
    if input.text.len() > 2048 {
        return Err(ApiError::invalid("text", "内容过长 / text longer than 2048 bytes"));
    }
    let too_long = |_| ApiError::invalid("text", "内容过长，无法生成二维码 / too long for a QR code");
    match input.format.as_deref().unwrap_or("svg") {
        "svg" => {
            let svg = sentinel_credential::qr::svg(&input.text, 300).map_err(too_long)?;
            Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], svg).into_response())
        }
        "png" => {
            // At most 10 px per module: a version-40 code is then under 2 000 px a side.
            let png = sentinel_credential::qr::png(&input.text, input.scale.unwrap_or(8).clamp(1, 10))
                .map_err(too_long)?;
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], png).into_response())
        }
        _ => Err(ApiError::invalid("format", "格式应为 svg 或 png / format must be svg or png")),
    }
}
