//! Persons: registered with their ID number, found by ID number or phone through blind indexes, shown
//! masked by default; an unmasked read needs a stated purpose and is audited (通告第八条).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use sentinel_core::masking::mask_address;
use sentinel_core::{Permission, PersonId, PersonName, PhoneNumber, ResidentIdNumber};
use sentinel_store::{NewPerson, Person, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::regions::parse_region;
use super::{List, page_request, purpose};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// A person as an API caller sees them: masked unless `masked` is false.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub id: i64,
    /// `320***********123X` when masked
    pub id_number: String,
    /// `张*` when masked
    pub name: String,
    /// `138****5678` when masked
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Home grid or community.
    pub region_code: String,
    pub masked: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<FixedOffset>,
}

impl PersonView {
    pub fn masked(state: &AppState, p: &Person) -> Self {
        Self {
            id: p.id.0,
            id_number: p.id_number.masked(),
            name: p.name.masked(),
            phone: p.phone.as_ref().map(PhoneNumber::masked),
            address: p.address.as_deref().map(mask_address),
            region_code: p.region_code.to_string(),
            masked: true,
            created_at: state.local(p.created_at),
        }
    }

    pub(super) fn unmasked(state: &AppState, p: &Person) -> Self {
        Self {
            id: p.id.0,
            id_number: p.id_number.as_str().to_owned(),
            name: p.name.as_str().to_owned(),
            phone: p.phone.as_ref().map(|ph| ph.as_str().to_owned()),
            address: p.address.clone(),
            region_code: p.region_code.to_string(),
            masked: false,
            created_at: state.local(p.created_at),
        }
    }
}

/// Today in the city's zone (birth dates are bounded by it).
fn today(state: &AppState) -> chrono::NaiveDate {
    state.local(state.now()).date_naive()
}

pub fn parse_id_number(state: &AppState, field: &str, raw: &str) -> ApiResult<ResidentIdNumber> {
    ResidentIdNumber::parse(raw, today(state)).map_err(|e| ApiError::invalid(field, e.to_string()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PersonInput {
    /// 18-character resident ID number (15-digit legacy numbers are converted).
    pub id_number: String,
    pub name: String,
    /// Mainland mobile number.
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Home grid or community.
    pub region_code: String,
}

/// Registers a person; the ID number must be valid and not registered yet.
#[utoipa::path(post, path = "/api/v1/persons", tag = "persons", request_body = PersonInput,
    responses((status = 201, body = PersonView), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PersonInput>,
) -> ApiResult<(StatusCode, Json<PersonView>)> {
    caller.require(Permission::WritePersons)?;
    let address = input.address.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if address.as_ref().is_some_and(|a| a.chars().count() > 200 || a.chars().any(char::is_control)) {
        return Err(ApiError::invalid(
            "address",
            "地址应不超过200个字符 / address must be at most 200 characters",
        ));
    }
    let person = NewPerson {
        id_number: parse_id_number(&state, "id_number", &input.id_number)?,
        name: PersonName::parse(&input.name).map_err(|e| ApiError::invalid("name", e.to_string()))?,
        phone: input
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|p| PhoneNumber::parse(p).map_err(|e| ApiError::invalid("phone", e.to_string())))
            .transpose()?,
        address,
        region_code: parse_region("region_code", &input.region_code)?,
    };
    caller.require_region(Permission::WritePersons, &person.region_code)?;
    let created = state.store.create_person(&person, state.now()).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict("id_number")
            .with_detail("该身份证号码已登记 / this ID number is registered already"),
        StoreError::Reference(_) => {
            ApiError::invalid("region_code", "区划不存在 / the region does not exist")
        }
        other => other.into(),
    })?;
    super::audit::record(
        &state,
        &caller,
        "person.create",
        Some(format!("person:{}", created.id)),
        None,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PersonView::masked(&state, &created))))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PersonQuery {
    /// Find by resident ID number.
    pub id_number: Option<String>,
    /// Find by mobile number (family members may share one).
    pub phone: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Finds persons by ID number or phone, or lists everyone in the caller's scope; always masked.
#[utoipa::path(get, path = "/api/v1/persons", tag = "persons", params(PersonQuery),
    responses((status = 200, body = List<PersonView>), (status = 422, body = crate::error::Problem)))]
pub async fn list_persons(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> ApiResult<Json<List<PersonView>>> {
    caller.require(Permission::ReadPersons)?;
    let region = caller.person_region()?;
    let in_scope = |p: &Person| region.as_ref().is_none_or(|r| r.contains(&p.region_code));
    let found = if let Some(raw) = q.id_number.as_deref() {
        let id = parse_id_number(&state, "id_number", raw)?;
        state.store.find_person_by_id_number(&id).await?.into_iter().collect::<Vec<_>>()
    } else if let Some(raw) = q.phone.as_deref() {
        let phone = PhoneNumber::parse(raw).map_err(|e| ApiError::invalid("phone", e.to_string()))?;
        state.store.find_persons_by_phone(&phone).await?
    } else {
        let page =
            state.store.list_persons(region.as_ref(), page_request(q.cursor.as_deref(), q.limit)?).await?;
        return Ok(Json(List::from_page(page, |p| PersonView::masked(&state, &p))));
    };
    Ok(Json(List::all(found.iter().filter(|p| in_scope(p)).map(|p| PersonView::masked(&state, p)).collect())))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PersonReadQuery {
    /// Why the unmasked record is needed (2–200 characters). Without it the answer is masked.
    pub purpose: Option<String>,
}

/// One person: masked, or unmasked with a stated purpose (audited).
#[utoipa::path(get, path = "/api/v1/persons/{id}", tag = "persons", params(PersonReadQuery),
    responses((status = 200, body = PersonView), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn get_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PersonReadQuery>,
) -> ApiResult<Json<PersonView>> {
    caller.require(Permission::ReadPersons)?;
    let purpose = purpose(q.purpose.as_deref())?;
    let person = state.store.get_person(PersonId(id)).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("person"),
        other => other.into(),
    })?;
    caller.require_region(Permission::ReadPersons, &person.region_code)?;
    let Some(purpose) = purpose else {
        return Ok(Json(PersonView::masked(&state, &person)));
    };
    caller.require(Permission::UnmaskPersons)?;
    super::audit::record(
        &state,
        &caller,
        "person.unmask",
        Some(format!("person:{}", person.id)),
        Some(purpose),
        None,
    )
    .await?;
    Ok(Json(PersonView::unmasked(&state, &person)))
}
