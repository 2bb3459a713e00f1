//! `POST /api/v1/device/scans`: a device at the gate sends what it read; the server verifies the code,
//! looks up the live status, decides under the venue's policy, records the visit (the answer waits for
//! the commit), raises alerts and answers with the gate action and the prompt to speak.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use sentinel_core::entry::{Celsius, Channel, Decision, FaceMatch, Readings};
use sentinel_core::health::LiveStatus;
use sentinel_core::{PersonId, ResidentIdNumber};
use sentinel_credential::CredentialKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credentials::person_of;
use crate::auth::DeviceCaller;
use crate::entry::checkin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct IdCardRead {
    pub id_number: String,
    pub name: Option<String>,
    /// Face-match score between the card photo and the camera, 0–1.
    pub face_match: Option<f32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScanInput {
    /// Unique per scan on this device: a retry with the same key is the same visit.
    pub idempotency_key: String,
    /// A health code (`SN1:…`) shown on a phone.
    pub health_code: Option<String>,
    /// A 24-hour paper code.
    pub paper_code: Option<String>,
    /// An ID card read (人证核验).
    pub id_card: Option<IdCardRead>,
    /// 30–45 °C.
    pub temperature_c: Option<f32>,
    /// false: the camera saw no mask.
    pub mask: Option<bool>,
    /// When given, must be the device's own venue.
    pub venue_id: Option<i64>,
    /// Anything else a device sends (vendor telemetry) is accepted but not read; its names come back in
    /// `ignored_fields`, so a misspelled reading (`temprature_c`) is seen at once rather than silently
    /// skipping a check.
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Prompt {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScanResult {
    /// pass, remind or deny
    pub outcome: &'static str,
    /// Reason codes: code_red, code_yellow, fever, risk_itinerary, nat_expired, nat_missing, nat_positive,
    /// no_mask, unvaccinated, face_mismatch, unknown_person, or a credential error (expired, revoked, …).
    pub reasons: Vec<String>,
    pub prompt: Prompt,
    /// `open` or `closed`.
    pub gate: &'static str,
    pub visit_id: i64,
    /// The policy version decided under, e.g. `city v2` or `default`.
    pub policy_version: String,
    pub masked_name: Option<String>,
    pub colour: Option<&'static str>,
    /// Staff should take the person's details (未接种登记).
    pub registration_prompt: bool,
    /// This idempotency key was answered before: the earlier visit is returned.
    pub duplicate: bool,
    /// Fields of the request this server does not know and did not read (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<FixedOffset>,
}

/// Who the scan identified, and through which channel.
enum Identified {
    Person {
        id: PersonId,
        channel: Channel,
    },
    /// The credential was refused before any check.
    Refused {
        code: &'static str,
        channel: Channel,
    },
    /// A valid ID card of somebody not in the registry.
    Unknown,
}

fn readings(input: &ScanInput) -> ApiResult<Readings> {
    let temperature = input
        .temperature_c
        .map(|t| Celsius::new(t).map_err(|e| ApiError::invalid("temperature_c", e.to_string())))
        .transpose()?;
    let face_match = match &input.id_card {
        Some(card) => card
            .face_match
            .map(|f| FaceMatch::new(f).map_err(|e| ApiError::invalid("id_card.face_match", e.to_string())))
            .transpose()?,
        None => None,
    };
    Ok(Readings { temperature, mask: input.mask, face_match })
}

async fn identify(state: &AppState, input: &ScanInput) -> ApiResult<Identified> {
    let now = state.now();
    let code = match (&input.health_code, &input.paper_code, &input.id_card) {
        (Some(t), None, None) => Some((t, Channel::DeviceCode)),
        (None, Some(t), None) => Some((t, Channel::PaperCode)),
        (None, None, Some(_)) => None,
        _ => {
            return Err(ApiError::invalid(
                "health_code",
                "应恰好提供 health_code、paper_code 或 id_card 之一 / send exactly one of health_code, paper_code, id_card",
            ));
        }
    };
    if let Some((token, channel)) = code {
        let claims = match state.keyring.open(token) {
            Ok(signed) => state
                .signatures
                .check(signed)
                .await?
                .and_then(|verified| state.keyring.accept(&verified, now)),
            Err(e) => Err(e),
        };
        return Ok(match claims {
            Ok(claims) => {
                // What was shown decides the channel, whichever field the device put it in.
                let channel = match claims.kind {
                    CredentialKind::Paper => Channel::PaperCode,
                    CredentialKind::Dynamic => Channel::DeviceCode,
                };
                match person_of(&claims.subject) {
                    Some(id) => Identified::Person { id, channel },
                    None => Identified::Refused { code: "malformed", channel },
                }
            }
            Err(e) => Identified::Refused { code: e.code(), channel },
        });
    }
    let card = input.id_card.as_ref().ok_or_else(ApiError::internal)?;
    let today = state.local(now).date_naive();
    let number = ResidentIdNumber::parse(&card.id_number, today)
        .map_err(|e| ApiError::invalid("id_card.id_number", e.to_string()))?;
    Ok(match state.store.locate_person(&number).await? {
        Some((id, _)) => Identified::Person { id, channel: Channel::DeviceIdCard },
        None => Identified::Unknown,
    })
}

/// One scan at the gate.
#[utoipa::path(post, path = "/api/v1/device/scans", tag = "entry", request_body = ScanInput,
    security(("bearer" = [])),
    responses((status = 200, body = ScanResult), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn scan(
    State(state): State<AppState>,
    device: DeviceCaller,
    ApiJson(input): ApiJson<ScanInput>,
) -> ApiResult<Json<ScanResult>> {
    if input.venue_id.is_some_and(|v| v != device.venue.id.0) {
        return Err(ApiError::forbidden()
            .with_detail("设备未登记在该场所 / the device is not registered at this venue"));
    }
    let ignored_fields: Vec<String> = input.other.keys().cloned().collect();
    let key = input.idempotency_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(ApiError::invalid("idempotency_key", "应为1–100个字符 / must be 1–100 characters"));
    }
    let readings = readings(&input)?;
    let now = state.now();
    let venue = &device.venue;
    let effective = state.policies.effective(venue.id, venue.category, now);
    let identified = identify(&state, &input).await?;
    type Outcome = (Option<PersonId>, Channel, Decision, Option<std::sync::Arc<LiveStatus>>, Option<String>);
    let (person, channel, decision, status, masked_name): Outcome = match identified {
        Identified::Refused { code, channel } => {
            (None, channel, Decision::refused_credential(code), None, None)
        }
        Identified::Unknown => {
            (None, Channel::DeviceIdCard, Decision::refused_credential("unknown_person"), None, None)
        }
        Identified::Person { id, channel } => {
            let a = checkin::assess(&state, id, &effective, readings, channel, now).await.map_err(|e| {
                if e.code() == "not_found" {
                    ApiError::invalid("health_code", "人员不存在 / no such person")
                } else {
                    e
                }
            })?;
            (Some(id), channel, a.decision, Some(a.status), Some(a.masked_name))
        }
    };
    let entry = checkin::Entry {
        venue,
        device: Some(device.device.id),
        person,
        channel,
        decision: &decision,
        policy: &effective,
        readings,
        idempotency_key: Some(key.to_owned()),
        registrar: None,
        at: now,
    };
    let recorded = checkin::record(&state, entry).await?;
    if recorded.duplicate {
        // The earlier answer stands: read it back from the stored visit.
        let earlier = state.store.get_visit(recorded.visit_id).await?;
        let admitted = earlier.outcome != "deny";
        let earlier_registration = earlier.reasons.iter().any(|r| r == "unvaccinated");
        return Ok(Json(ScanResult {
            outcome: match earlier.outcome.as_str() {
                "pass" => "pass",
                "remind" => "remind",
                _ => "deny",
            },
            reasons: earlier.reasons,
            // The earlier answer's own words (older visits without them: the current ones).
            prompt: match earlier.prompt {
                Some((zh, en)) => Prompt { zh, en },
                None => Prompt { zh: decision.prompt_zh, en: decision.prompt_en },
            },
            gate: if admitted { "open" } else { "closed" },
            visit_id: recorded.visit_id,
            // The policy the earlier answer used (older visits without a label: the one in force now).
            policy_version: earlier.policy_version.unwrap_or_else(|| effective.label.clone()),
            masked_name,
            colour: status.map(|s| s.colour.code()),
            registration_prompt: earlier_registration,
            duplicate: true,
            ignored_fields,
            at: state.local(earlier.entered_at),
        }));
    }
    Ok(Json(ScanResult {
        outcome: decision.outcome.code(),
        reasons: decision.reasons().map(|r| r.code().to_owned()).collect(),
        prompt: Prompt { zh: decision.prompt_zh.clone(), en: decision.prompt_en.clone() },
        gate: if decision.outcome.admits() { "open" } else { "closed" },
        visit_id: recorded.visit_id,
        policy_version: effective.label.clone(),
        masked_name,
        colour: status.map(|s| s.colour.code()),
        registration_prompt: decision.registration_prompt,
        duplicate: false,
        ignored_fields,
        at: state.local(now),
    }))
}
