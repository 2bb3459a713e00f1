//! The audit log: who read or changed whose data, why and when; readable by auditors.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset};
use sentinel_core::Permission;
use sentinel_store::{AuditFilter, AuditRecord, NewAudit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{List, page_request};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Who did something: a user by username, or a resident acting on their own pages (`resident:ID`).
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub request_id: Option<String>,
}

impl From<&Caller> for Actor {
    fn from(caller: &Caller) -> Self {
        Actor { name: caller.user.username.clone(), request_id: caller.request_id.clone() }
    }
}

/// Writes one audit record for what `caller` just did. Failing to audit fails the request: an
/// unmasked read that cannot be recorded must not happen.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: Option<String>,
    purpose: Option<String>,
    detail: Option<String>,
) -> ApiResult<()> {
    record_by(state, &Actor::from(caller), action, subject, purpose, detail).await
}

/// [`record`] for any actor.
pub async fn record_by(
    state: &AppState,
    actor: &Actor,
    action: &str,
    subject: Option<String>,
    purpose: Option<String>,
    detail: Option<String>,
) -> ApiResult<()> {
    state
        .store
        .append_audit(&NewAudit {
            at: state.now(),
            actor: actor.name.clone(),
            action: action.to_owned(),
            subject,
            purpose,
            detail,
            request_id: actor.request_id.clone(),
        })
        .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<FixedOffset>,
    /// Username of who acted.
    pub actor: String,
    /// e.g. `person.unmask`, `person.create`, `user.create`, `auth.login`.
    pub action: String,
    /// Whose data, e.g. `person:42`.
    pub subject: Option<String>,
    /// The purpose stated by the actor.
    pub purpose: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub action: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Audit records, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = List<AuditView>), (status = 403, body = crate::error::Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<List<AuditView>>> {
    caller.require_deployment_wide(Permission::ReadAudit)?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let filter = AuditFilter { actor: q.actor, subject: q.subject, action: q.action };
    let records = state.store.list_audit(&filter, page).await?;
    Ok(Json(List::from_page(records, |r: AuditRecord| AuditView {
        id: r.id,
        at: state.local(r.at),
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        purpose: r.purpose,
        detail: r.detail,
        request_id: r.request_id,
    })))
}
