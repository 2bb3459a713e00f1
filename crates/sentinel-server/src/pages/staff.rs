//! Staff pages at the door: sign-in (the console's account), manual registration (手工登记) for a person
//! without phone or card, a paper code read by a handheld scanner into a form, and the unvaccinated
//! registration form. Every entry goes through the same decision and visit path as the gate.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use sentinel_core::entry::{Celsius, Channel, Decision, Readings};
use sentinel_core::{Permission, PersonName, PhoneNumber};
use sentinel_credential::CredentialKind;
use sentinel_store::{Venue, VenueFilter};
use serde::Deserialize;

use super::layout::{Lang, PageError, PageResult, is_local_path, page, parse_id_number};
use super::resident::outcome_label;
use super::session::{MaybeStaff, Staff, clear_cookie, staff_or_sign_in};
use crate::api::auth::{authenticate, session_cookie};
use crate::api::credentials::person_of;
use crate::auth::{SESSION_COOKIE, create_session};
use crate::entry::checkin;
use crate::state::AppState;

/// Staff sign-in attempts one client address may make in ten minutes.
pub const STAFF_LOGINS: u32 = 30;

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(lang: Lang, next: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("工作人员登录", "Staff sign-in")) }
        @if let Some(e) = error { p.problem { (e) } }
        form method="post" action="/s/login" {
            input type="hidden" name="next" value=(next);
            label { (lang.t("用户名", "Username")) input name="username" required autocomplete="username"; }
            label { (lang.t("密码", "Password")) input name="password" type="password" required autocomplete="current-password"; }
            button type="submit" id="staff-sign-in" { (lang.t("登录", "Sign in")) }
        }
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    lang: Lang,
    Query(q): Query<NextQuery>,
) -> Html<String> {
    let next = q.next.filter(|n| is_local_path(n)).unwrap_or_else(|| "/s/".into());
    page(&state, lang, "/s/login", lang.t("工作人员登录", "Staff sign-in"), login_form(lang, &next, None))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    lang: Lang,
    headers: axum::http::HeaderMap,
    client: crate::throttle::ClientAddress,
    Form(f): Form<LoginForm>,
) -> PageResult<Response> {
    super::session::check_origin(&headers)?;
    // Each attempt costs an Argon2 hash: one client cannot keep the server hashing.
    client.check(&state, "staff-login", STAFF_LOGINS)?;
    let next = f.next.filter(|n| is_local_path(n)).unwrap_or_else(|| "/s/".into());
    let user = match authenticate(&state, &f.username, f.password).await {
        Ok(u) => u,
        Err(_) => {
            let body =
                login_form(lang, &next, Some(lang.t("用户名或密码错误", "Wrong username or password")));
            let mut response =
                page(&state, lang, "/s/login", lang.t("工作人员登录", "Staff sign-in"), body).into_response();
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
    };
    let (token, record) = create_session(&*state.store, &user, state.now(), state.session_ttl).await?;
    let caller = crate::auth::Caller { user, token_hash: record.token_hash, request_id: None };
    crate::api::audit::record(&state, &caller, "auth.login", None, None, Some("staff pages".into())).await?;
    let mut response = Redirect::to(&next).into_response();
    let cookie = HeaderValue::from_str(&session_cookie(&state, &token))
        .map_err(|_| crate::error::ApiError::internal())?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    maybe: MaybeStaff,
    Form(f): Form<super::session::CsrfForm>,
) -> PageResult<Response> {
    if let Some(staff) = maybe.0 {
        staff.check_csrf(&f.csrf)?;
        state.store.delete_token(&staff.caller.token_hash).await?;
    }
    Ok(([clear_cookie(SESSION_COOKIE)], Redirect::to("/s/login")).into_response())
}

pub(super) fn nav(lang: Lang, staff: &Staff) -> Markup {
    html! {
        nav.links {
            a href="/s/manual" { (lang.t("手工登记", "Manual registration")) }
            a href="/s/paper" { (lang.t("纸质码核验", "Paper code")) }
            a href="/s/unvaccinated" { (lang.t("未接种登记", "Unvaccinated")) }
            a href="/s/posters" { (lang.t("场所码海报", "Posters")) }
        }
        p.en { (staff.caller.user.display_name.as_deref().unwrap_or(&staff.caller.user.username)) " · " (staff.caller.user.role.label_zh()) }
    }
}

pub async fn home(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/")?;
    let body = html! {
        (nav(lang, &staff))
        h1 { (lang.t("场所工作台", "Door desk")) }
        p { (lang.t("没有手机、没有身份证的老人和儿童，请用手工登记；持纸质码者请扫描纸质码。", "For people without a phone or card use manual registration; scan paper codes with the paper code page.")) }
        form method="post" action="/s/logout" {
            input type="hidden" name="csrf" value=(staff.csrf);
            button.secondary type="submit" { (lang.t("退出登录", "Sign out")) }
        }
    };
    Ok(page(&state, lang, "/s/", lang.t("场所工作台", "Door desk"), body))
}

/// The venues the staff member registers entries at (their scope), for the form's choice.
async fn venues_for(state: &AppState, staff: &Staff) -> PageResult<Vec<Venue>> {
    staff.caller.require(Permission::RegisterEntries).map_err(PageError::from)?;
    let filter = VenueFilter { scope: Some(staff.caller.user.scope.clone()), ..Default::default() };
    Ok(sentinel_store::all_pages(|p| state.store.list_venues(&filter, p)).await?)
}

fn venue_select(lang: Lang, venues: &[Venue]) -> Markup {
    html! {
        label { (lang.t("场所", "Venue"))
            select name="venue" required {
                @for v in venues { option value=(v.id.0) { (v.name) } }
            }
        }
    }
}

async fn venue_for(state: &AppState, staff: &Staff, permission: Permission, id: i64) -> PageResult<Venue> {
    Ok(crate::api::venues::venue_in_scope(state, &staff.caller, permission, id).await?)
}

fn temperature(raw: Option<&str>) -> PageResult<Readings> {
    let temperature = match raw.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => {
            let value: f32 = t.parse().map_err(|_| {
                PageError::bad_input("体温应为数字，如 36.5", "Temperature must be a number such as 36.5")
            })?;
            Some(Celsius::new(value).map_err(|e| {
                PageError::bad_input(format!("体温超出范围：{e}"), format!("Temperature out of range: {e}"))
            })?)
        }
        None => None,
    };
    Ok(Readings { temperature, ..Readings::default() })
}

/// An entry taken at the desk: the staff member is its registrar.
struct Desk<'a> {
    staff: &'a Staff,
    venue: &'a Venue,
    policy: &'a crate::entry::policy::Effective,
    readings: Readings,
    at: chrono::DateTime<chrono::Utc>,
}

impl Desk<'_> {
    async fn record(
        &self,
        state: &AppState,
        person: Option<sentinel_core::PersonId>,
        channel: Channel,
        decision: &Decision,
    ) -> PageResult<i64> {
        let entry = checkin::Entry {
            venue: self.venue,
            device: None,
            person,
            channel,
            decision,
            policy: self.policy,
            readings: self.readings,
            idempotency_key: None,
            registrar: Some(self.staff.caller.user.username.clone()),
            at: self.at,
        };
        Ok(checkin::record(state, entry).await?.visit_id)
    }
}

/// The staff view of a decision: the colour, verdict, prompt and what to do next.
fn decision_card(
    state: &AppState,
    lang: Lang,
    venue: &Venue,
    masked_name: &str,
    decision: &Decision,
    visit_id: i64,
) -> Markup {
    let outcome = decision.outcome.code();
    let class = if decision.outcome.admits() { "colour-green" } else { "colour-red" };
    html! {
        div.result.(class) data-outcome=(outcome) data-visit=(visit_id) {
            div.venue { (venue.name) }
            div.verdict { (outcome_label(lang, outcome)) }
            div { strong { (masked_name) } }
            div { (lang.t(&decision.prompt_zh, &decision.prompt_en)) }
            div.en { (state.local(state.now()).format("%Y-%m-%d %H:%M:%S")) }
        }
        @if decision.registration_prompt {
            p.notice { a href="/s/unvaccinated" { (lang.t("此人未接种疫苗，请进行未接种登记", "Not vaccinated: take an unvaccinated registration")) } }
        }
    }
}

pub async fn manual_page(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/manual")?;
    let venues = venues_for(&state, &staff).await.map_err(IntoResponse::into_response)?;
    Ok(page(
        &state,
        lang,
        "/s/manual",
        lang.t("手工登记", "Manual registration"),
        manual_form(lang, &staff, &venues, None),
    ))
}

fn manual_form(lang: Lang, staff: &Staff, venues: &[Venue], result: Option<Markup>) -> Markup {
    html! {
        (nav(lang, staff))
        @if let Some(r) = result { (r) }
        h1 { (lang.t("手工登记", "Manual registration")) }
        form method="post" action="/s/manual" id="manual" {
            input type="hidden" name="csrf" value=(staff.csrf);
            (venue_select(lang, venues))
            label { (lang.t("身份证号码", "ID number")) input name="id_number" required maxlength="18" autocomplete="off"; }
            label { (lang.t("姓名", "Name")) input name="name" required maxlength="30"; }
            label { (lang.t("手机号码", "Phone")) input name="phone" inputmode="tel" maxlength="11"; }
            label { (lang.t("体温（℃，可选）", "Temperature (°C, optional)")) input name="temperature_c" inputmode="decimal" maxlength="5"; }
            button type="submit" id="register" { (lang.t("核验并登记", "Check and register")) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ManualForm {
    csrf: String,
    venue: i64,
    id_number: String,
    name: String,
    phone: Option<String>,
    temperature_c: Option<String>,
}

/// ID number + name (checked against the record; a phone, when given, must be a valid number) → the live
/// status → the decision → a visit with channel `manual` and the staff member as registrar.
pub async fn manual(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
    Form(f): Form<ManualForm>,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/manual")?;
    async {
        staff.check_csrf(&f.csrf)?;
        let venue = venue_for(&state, &staff, Permission::RegisterEntries, f.venue).await?;
        let number = parse_id_number(&state, &f.id_number)?;
        let name = PersonName::parse(f.name.trim()).map_err(|e| PageError::bad_input(format!("姓名无效：{e}"), format!("Invalid name: {e}")))?;
        if let Some(p) = f.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            PhoneNumber::parse(p).map_err(|e| PageError::bad_input(format!("手机号码无效：{e}"), format!("Invalid phone: {e}")))?;
        }
        let readings = temperature(f.temperature_c.as_deref())?;
        let mismatch = || {
            PageError::bad_input(
                "身份证号码与姓名不一致或未登记，请核对证件；仍无法登记请联系社区",
                "The ID number and name do not match anyone on record: check the document, or call the community",
            )
            .with_next("/s/manual", "返回手工登记", "Back")
        };
        let person = state.store.find_person_by_id_number(&number).await?.ok_or_else(mismatch)?;
        let person_id = person.id;
        if person.name != name {
            return Err(mismatch());
        }
        let now = state.now();
        let policy = state.policies.effective(venue.id, venue.category, now);
        let assessed = checkin::assess(&state, person_id, &policy, readings, Channel::Manual, now).await?;
        let desk = Desk { staff: &staff, venue: &venue, policy: &policy, readings, at: now };
        let visit_id = desk.record(&state, Some(person_id), Channel::Manual, &assessed.decision).await?;
        let card = decision_card(&state, lang, &venue, &assessed.masked_name, &assessed.decision, visit_id);
        let venues = venues_for(&state, &staff).await?;
        Ok(page(&state, lang, "/s/manual", lang.t("手工登记", "Manual registration"), manual_form(lang, &staff, &venues, Some(card))))
    }
    .await
    .map_err(|e: PageError| e.into_response())
}

fn paper_form(lang: Lang, staff: &Staff, venues: &[Venue], result: Option<Markup>) -> Markup {
    html! {
        (nav(lang, staff))
        @if let Some(r) = result { (r) }
        h1 { (lang.t("纸质码核验", "Paper code")) }
        p { (lang.t("用扫码枪扫描纸质码，内容会填入下框。", "Scan the paper code with the handheld scanner into the field below.")) }
        form method="post" action="/s/paper" id="paper" {
            input type="hidden" name="csrf" value=(staff.csrf);
            (venue_select(lang, venues))
            label { (lang.t("纸质码内容", "Paper code")) input name="code" required autofocus autocomplete="off"; }
            label { (lang.t("体温（℃，可选）", "Temperature (°C, optional)")) input name="temperature_c" inputmode="decimal" maxlength="5"; }
            button type="submit" id="verify-paper" { (lang.t("核验并登记", "Verify and register")) }
        }
    }
}

pub async fn paper_page(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/paper")?;
    let venues = venues_for(&state, &staff).await.map_err(IntoResponse::into_response)?;
    Ok(page(
        &state,
        lang,
        "/s/paper",
        lang.t("纸质码核验", "Paper code"),
        paper_form(lang, &staff, &venues, None),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PaperForm {
    csrf: String,
    venue: i64,
    code: String,
    temperature_c: Option<String>,
}

/// A paper code read at the door: verified like a device scan (a refused code is a deny visit with the
/// typed reason), recorded with the staff member as registrar.
pub async fn paper(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
    Form(f): Form<PaperForm>,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/paper")?;
    async {
        staff.check_csrf(&f.csrf)?;
        let venue = venue_for(&state, &staff, Permission::RegisterEntries, f.venue).await?;
        let readings = temperature(f.temperature_c.as_deref())?;
        let now = state.now();
        let policy = state.policies.effective(venue.id, venue.category, now);
        let verified = state.keyring.verify(f.code.trim(), now);
        let (person, decision, masked) = match verified {
            Ok(claims) if claims.kind == CredentialKind::Paper => match person_of(&claims.subject) {
                Some(id) => {
                    let a = checkin::assess(&state, id, &policy, readings, Channel::PaperCode, now).await?;
                    (Some(id), a.decision, a.masked_name)
                }
                None => (None, Decision::refused_credential("malformed"), "—".into()),
            },
            // A phone's dynamic code is not a paper code: the device scans those.
            Ok(_) => (None, Decision::refused_credential("malformed"), "—".into()),
            Err(e) => (None, Decision::refused_credential(e.code()), "—".into()),
        };
        let desk = Desk { staff: &staff, venue: &venue, policy: &policy, readings, at: now };
        let visit_id = desk.record(&state, person, Channel::PaperCode, &decision).await?;
        let card = decision_card(&state, lang, &venue, &masked, &decision, visit_id);
        let venues = venues_for(&state, &staff).await?;
        Ok(page(
            &state,
            lang,
            "/s/paper",
            lang.t("纸质码核验", "Paper code"),
            paper_form(lang, &staff, &venues, Some(card)),
        ))
    }
    .await
    .map_err(|e: PageError| e.into_response())
}

fn unvaccinated_form(lang: Lang, staff: &Staff, venues: &[Venue], notice: Option<Markup>) -> Markup {
    html! {
        (nav(lang, staff))
        @if let Some(n) = notice { (n) }
        h1 { (lang.t("未接种登记", "Unvaccinated registration")) }
        form method="post" action="/s/unvaccinated" id="unvaccinated" {
            input type="hidden" name="csrf" value=(staff.csrf);
            (venue_select(lang, venues))
            label { (lang.t("姓名", "Name")) input name="name" required maxlength="30"; }
            label { (lang.t("身份证号码（可选）", "ID number (optional)")) input name="id_number" maxlength="18" autocomplete="off"; }
            label { (lang.t("手机号码", "Phone")) input name="phone" inputmode="tel" maxlength="11"; }
            label { (lang.t("住址", "Address")) input name="address" maxlength="200"; }
            label { (lang.t("所属社区（区划代码）", "Home community (region code)")) input name="region_code" required maxlength="12"; }
            label { (lang.t("未接种原因", "Reason")) input name="reason" required maxlength="200"; }
            button type="submit" { (lang.t("登记并上报", "Register and report")) }
        }
    }
}

pub async fn unvaccinated_page(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/unvaccinated")?;
    staff.caller.require(Permission::RegisterUnvaccinated).map_err(|e| PageError::from(e).into_response())?;
    let venues = venues_for(&state, &staff).await.map_err(IntoResponse::into_response)?;
    Ok(page(
        &state,
        lang,
        "/s/unvaccinated",
        lang.t("未接种登记", "Unvaccinated"),
        unvaccinated_form(lang, &staff, &venues, None),
    ))
}

#[derive(Debug, Deserialize)]
pub struct UnvaccinatedForm {
    csrf: String,
    venue: i64,
    name: String,
    id_number: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    region_code: String,
    reason: String,
}

/// The same registration and report as `POST /api/v1/venues/{id}/unvaccinated`.
pub async fn unvaccinated(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
    Form(f): Form<UnvaccinatedForm>,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/unvaccinated")?;
    async {
        staff.check_csrf(&f.csrf)?;
        let input = crate::api::unvaccinated::UnvaccinatedInput {
            id_number: f.id_number,
            name: f.name,
            phone: f.phone,
            address: f.address,
            region_code: f.region_code,
            reason: f.reason,
            idempotency_key: None,
        };
        let (view, _) = crate::api::unvaccinated::register_at(&state, &staff.caller, f.venue, input).await?;
        let notice = html! { p.notice id="registered" data-id=(view.id) { (lang.t("已登记并上报社区和主管部门。", "Registered and reported to the community and the department.")) } };
        let venues = venues_for(&state, &staff).await?;
        Ok(page(&state, lang, "/s/unvaccinated", lang.t("未接种登记", "Unvaccinated"), unvaccinated_form(lang, &staff, &venues, Some(notice))))
    }
    .await
    .map_err(|e: PageError| e.into_response())
}
