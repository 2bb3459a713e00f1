//! The `/api/v1` JSON API and its OpenAPI document, generated from the handlers' annotations.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod case_export;
pub mod case_places;
pub mod cases;
pub mod credentials;
pub mod devices;
pub mod health;
pub mod imports;
pub mod persons;
pub mod place_codes;
pub mod policies;
pub mod regions;
pub mod rule_sets;
pub mod scans;
pub mod unvaccinated;
pub mod users;
pub mod vaccine_exemptions;
pub mod venues;
pub mod visits;
pub mod webhooks;

use sentinel_store::{Page, PageRequest};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const DEFAULT_LIMIT: u32 = 50;

/// A page of a list: `next` is the cursor of the following page (`?cursor=NEXT`), or null at the end.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> List<T> {
    pub fn all(items: Vec<T>) -> Self {
        Self { items, next: None }
    }

    pub fn from_page<S>(page: Page<S>, view: impl FnMut(S) -> T) -> Self {
        Self { items: page.items.into_iter().map(view).collect(), next: page.next.map(|n| n.to_string()) }
    }
}

/// Parses `?cursor=&limit=` (limit 1–500, default 50).
pub fn page_request(cursor: Option<&str>, limit: Option<u32>) -> ApiResult<PageRequest> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("每页条数应为1–{0} / limit must be 1–{0}", PageRequest::MAX_LIMIT),
        ));
    }
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => {
            Some(c.parse::<i64>().map_err(|_| ApiError::invalid("cursor", "游标无效 / invalid cursor"))?)
        }
        None => None,
    };
    Ok(PageRequest { after, limit })
}

/// The purpose stated for an unmasked read: 2–200 characters.
pub fn purpose(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) if p.chars().count() < 2 || p.chars().count() > 200 => {
            Err(ApiError::invalid("purpose", "用途说明应为2–200个字符 / purpose must be 2–200 characters"))
        }
        Some(p) => Ok(Some(p.to_owned())),
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sentinel 数字哨兵 API",
        description = "场所扫码通行、健康码核验与流调溯源平台 / Venue check-in, health-pass verification and exposure tracing. \
                       Errors are application/problem+json with a stable `code`.",
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session_cookie" = [])),
    tags(
        (name = "auth", description = "登录与令牌 / Login and tokens"),
        (name = "registry", description = "区划、场所与设备 / Regions, venues and devices"),
        (name = "persons", description = "人员（默认脱敏）/ Persons, masked by default"),
        (name = "users", description = "用户与角色 / Users and roles"),
        (name = "audit", description = "审计 / Audit"),
        (name = "credentials", description = "健康码、纸质码、信任列表与作废 / Health codes, paper codes, trust list, revocation"),
        (name = "entry", description = "六码联查：策略、设备扫码、到访记录、告警 / Entry check: policies, device scans, visits, alerts"),
        (name = "tracing", description = "流调溯源：规则集、病例、密接次密接、赋码、名单导出 / Exposure tracing: rule sets, cases, contacts, code assignment, lists"),
        (name = "health", description = "健康档案：赋码、核酸、疫苗、行程、风险地区、申诉 / Health registry"),
    ),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

/// The API routes with their OpenAPI document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(regions::list_regions, regions::upsert_region))
        .routes(routes!(regions::get_region))
        .routes(routes!(regions::list_categories))
        .routes(routes!(venues::list_venues, venues::create_venue))
        .routes(routes!(venues::get_venue, venues::update_venue, venues::delete_venue))
        .routes(routes!(place_codes::get_place_code))
        .routes(routes!(place_codes::reissue_place_code))
        .routes(routes!(place_codes::poster_svg_file))
        .routes(routes!(place_codes::poster_png_file))
        .routes(routes!(place_codes::poster_pdf_file))
        .routes(routes!(place_codes::bulk_pdf))
        .routes(routes!(place_codes::bulk_zip))
        .routes(routes!(devices::list_devices, devices::create_device))
        .routes(routes!(persons::list_persons, persons::create_person))
        .routes(routes!(persons::get_person))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user))
        .routes(routes!(users::create_api_token))
        .routes(routes!(audit::list_audit))
        .routes(routes!(credentials::issue_health_code))
        .routes(routes!(credentials::issue_paper_code))
        .routes(routes!(credentials::paper_card))
        .routes(routes!(credentials::revoke))
        .routes(routes!(credentials::verify))
        .routes(routes!(credentials::trust_list))
        .routes(routes!(credentials::revocations))
        .routes(routes!(credentials::qr))
        .routes(routes!(health::create_assignment))
        .routes(routes!(health::lift_assignment))
        .routes(routes!(health::file_appeal))
        .routes(routes!(health::decide_appeal))
        .routes(routes!(health::add_nat))
        .routes(routes!(health::add_vaccination))
        .routes(routes!(vaccine_exemptions::add_vaccine_exemption))
        .routes(routes!(rule_sets::list_rule_sets))
        .routes(routes!(cases::open_case, cases::list_cases))
        .routes(routes!(cases::get_case))
        .routes(routes!(cases::trace_case))
        .routes(routes!(cases::list_contacts))
        .routes(routes!(case_places::trajectory))
        .routes(routes!(cases::apply_case))
        .routes(routes!(cases::close_case))
        .routes(routes!(case_places::clusters))
        .routes(routes!(case_export::export_csv))
        .routes(routes!(case_export::export_xlsx))
        .routes(routes!(health::add_itinerary))
        .routes(routes!(health::create_risk_area, health::list_risk_areas))
        .routes(routes!(health::end_risk_area))
        .routes(routes!(health::person_health))
        .routes(routes!(devices::register_at_venue))
        .routes(routes!(devices::rotate_token, devices::revoke_token))
        .routes(routes!(policies::list_policies, policies::create_policy))
        .routes(routes!(policies::publish_policy))
        .routes(routes!(scans::scan))
        .routes(routes!(visits::list_visits))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::ack))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::stream))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::dead_letters))
        .routes(routes!(unvaccinated::register))
        .routes(routes!(unvaccinated::list))
        // Import files are large (100 000 rows ≈ 8 MB): only this route takes big bodies.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(imports::import))
                .layer(axum::extract::DefaultBodyLimit::max(imports::MAX_FILE_BYTES)),
        )
}
