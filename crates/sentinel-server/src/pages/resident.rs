//! The resident's pages: sign-in by ID number, phone and a one-time code; my health code (a dynamic QR
//! that refreshes before it expires); my visits; family members (a guardian shows their codes and checks
//! them in); a printable 24-hour paper code.

use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Duration;
use maud::{Markup, html};
use rand::Rng;
use sentinel_core::health::{Colour, LiveStatus};
use sentinel_core::{PersonId, PersonName, PhoneNumber};
use sentinel_credential::CredentialKind;
use sentinel_store::{OtpOutcome, PageRequest, Person, ResidentSession, StoreError, VisitFilter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::layout::{Lang, PageError, PageResult, is_local_path, page, parse_id_number, raw};
use super::session::{
    MaybeResident, RESIDENT_COOKIE, Resident, check_origin, clear_cookie, resident_cookie,
    resident_or_sign_in,
};
use crate::api::audit::Actor;
use crate::api::credentials::{issue, paper_card_svg};
use crate::auth::{new_csrf, new_token};
use crate::state::AppState;
use crate::throttle::ClientAddress;

/// A one-time code lives five minutes.
pub const OTP_MINUTES: i64 = 5;
/// At most this many codes per person per hour.
pub const OTP_PER_HOUR: u32 = 5;
/// Wrong guesses before a code is dead.
pub const OTP_ATTEMPTS: u32 = 5;

/// Sign-in forms one client address may send in ten minutes (generous: a carrier's NAT puts many phones
/// behind one address), so nobody can ask without end which ID number goes with which phone.
pub const CLIENT_CODE_REQUESTS: u32 = 30;
pub const CLIENT_CODE_CHECKS: u32 = 60;

fn otp_hash(person: PersonId, code: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"sentinel otp\0")
        .chain_update(person.0.to_be_bytes())
        .chain_update(code.as_bytes())
        .finalize()
        .to_vec()
}

fn next_or_home(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or("/r/code").to_owned()
}

pub async fn home(maybe: MaybeResident) -> Response {
    Redirect::to(if maybe.0.is_some() { "/r/code" } else { "/r/login" }).into_response()
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(lang: Lang, next: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("居民登录", "Resident sign-in")) }
        @if next.starts_with("/v/") {
            p.notice { (lang.t("登录后将自动完成场所扫码登记。", "After signing in, your check-in is recorded.")) }
        }
        @if let Some(e) = error { p.problem { (e) } }
        form method="post" action="/r/login" {
            input type="hidden" name="next" value=(next);
            label { (lang.t("身份证号码", "ID number")) input name="id_number" autocomplete="off" required maxlength="18"; }
            label { (lang.t("手机号码", "Mobile phone")) input name="phone" inputmode="tel" required maxlength="11"; }
            button type="submit" id="send-code" { (lang.t("获取验证码", "Send me a code")) }
        }
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    lang: Lang,
    Query(q): Query<NextQuery>,
) -> Html<String> {
    let next = next_or_home(q.next.as_deref());
    page(&state, lang, "/r/login", lang.t("居民登录", "Sign in"), login_form(lang, &next, None))
}

#[derive(Debug, Deserialize)]
pub struct CodeRequest {
    id_number: String,
    phone: String,
    next: Option<String>,
}

/// Checks the ID number and phone against the registry and sends a code to that phone.
pub async fn request_code(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    client: ClientAddress,
    Form(f): Form<CodeRequest>,
) -> PageResult<Html<String>> {
    check_origin(&headers)?;
    client.check(&state, "otp-request", CLIENT_CODE_REQUESTS)?;
    let next = next_or_home(f.next.as_deref());
    let number = parse_id_number(&state, &f.id_number)?;
    let phone = PhoneNumber::parse(f.phone.trim()).map_err(|e| {
        PageError::bad_input(format!("手机号码无效：{e}"), format!("Invalid phone number: {e}"))
    })?;
    let person = state.store.find_person_by_id_number(&number).await?;
    let Some(person) = person.filter(|p| p.phone.as_ref() == Some(&phone)) else {
        return Err(PageError::bad_input(
            "身份证号码与登记的手机号码不一致，请核对后重试，或到社区更新手机号",
            "The ID number and phone do not match our records: check them, or ask your community to update your phone",
        )
        .with_next(format!("/r/login?next={}", super::layout::encode(&next)), "重新输入", "Try again"));
    };
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    let now = state.now();
    match state
        .store
        .create_otp(
            person.id,
            &otp_hash(person.id, &code),
            now,
            now + Duration::minutes(OTP_MINUTES),
            now - Duration::hours(1),
            OTP_PER_HOUR,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(c)) if c == "otp_rate_limited" => {
            return Err(PageError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("验证码请求过于频繁：每小时最多{OTP_PER_HOUR}次，请稍后再试"),
                format!("Too many codes requested: at most {OTP_PER_HOUR} an hour, try again later"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = state.sms.send_code(&phone, &code, OTP_MINUTES).await {
        tracing::warn!(error = %e, "sending a one-time code failed");
        return Err(PageError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "sms_failed",
            "短信发送失败，请稍后再试",
            "The text message could not be sent: try again later",
        ));
    }
    let body = html! {
        h1 { (lang.t("输入验证码", "Enter the code")) }
        p { (lang.t("验证码已发送至 ", "We sent a code to ")) strong { (phone.masked()) } (lang.t("，5分钟内有效。", "; it is valid for 5 minutes.")) }
        @if state.demo_banner {
            p.demo id="demo-code" { (lang.t("演示验证码：", "Demo code: ")) strong { (code) } }
        }
        (verify_form(lang, &f.id_number, &next))
    };
    Ok(page(&state, lang, "/r/login", lang.t("输入验证码", "Enter the code"), body))
}

fn verify_form(lang: Lang, id_number: &str, next: &str) -> Markup {
    html! {
        form method="post" action="/r/verify" {
            input type="hidden" name="id_number" value=(id_number);
            input type="hidden" name="next" value=(next);
            label { (lang.t("短信验证码", "Code from the text message")) input name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="6"; }
            button type="submit" id="sign-in" { (lang.t("登录", "Sign in")) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    id_number: String,
    code: String,
    next: Option<String>,
}

pub async fn verify_code(
    State(state): State<AppState>,
    lang: Lang,
    headers: HeaderMap,
    client: ClientAddress,
    Form(f): Form<VerifyForm>,
) -> PageResult<Response> {
    check_origin(&headers)?;
    client.check(&state, "otp-verify", CLIENT_CODE_CHECKS)?;
    let next = next_or_home(f.next.as_deref());
    let number = parse_id_number(&state, &f.id_number)?;
    // The same answer for an ID number nobody has and a code that is gone: this page does not tell who
    // is registered.
    let gone = || {
        PageError::bad_input(
            "验证码错误或已失效，请重新获取",
            "The code is wrong or has expired: ask for a new one",
        )
        .with_next(format!("/r/login?next={}", super::layout::encode(&next)), "重新获取", "New code")
    };
    let Some((person, _)) = state.store.locate_person(&number).await? else {
        return Err(gone());
    };
    let now = state.now();
    match state.store.use_otp(person, &otp_hash(person, f.code.trim()), now, OTP_ATTEMPTS).await? {
        OtpOutcome::Accepted => {}
        OtpOutcome::Wrong => {
            let body = html! {
                h1 { (lang.t("输入验证码", "Enter the code")) }
                p.problem { (lang.t("验证码错误，请重新输入", "Wrong code: try again")) }
                (verify_form(lang, &f.id_number, &next))
            };
            let mut response =
                page(&state, lang, "/r/login", lang.t("输入验证码", "Enter the code"), body).into_response();
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
        OtpOutcome::NoCode => return Err(gone()),
    }
    let (token, hash) = new_token();
    let session = ResidentSession {
        token_hash: hash,
        person_id: person,
        csrf_token: new_csrf(),
        created_at: now,
        expires_at: now + state.session_ttl,
    };
    state.store.create_resident_session(&session).await?;
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(header::SET_COOKIE, resident_cookie(&state, &token));
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    maybe: MaybeResident,
    Form(f): Form<super::session::CsrfForm>,
) -> PageResult<Response> {
    if let Some(resident) = maybe.0 {
        resident.check_csrf(&f.csrf)?;
        state.store.delete_resident_session(&resident.session.token_hash).await?;
    }
    Ok(([clear_cookie(RESIDENT_COOKIE)], Redirect::to("/r/login")).into_response())
}

/// The guardian's dependants with their records, in the order they were added (two queries).
pub async fn family_of(
    state: &AppState,
    guardian: &Person,
) -> PageResult<Vec<(sentinel_store::Dependant, Person)>> {
    let dependants = state.store.dependants(guardian.id).await?;
    let ids: Vec<PersonId> = dependants.iter().map(|d| d.person_id).collect();
    let mut persons: std::collections::HashMap<PersonId, Person> =
        state.store.get_persons(&ids).await?.into_iter().map(|p| (p.id, p)).collect();
    Ok(dependants.into_iter().filter_map(|d| persons.remove(&d.person_id).map(|p| (d, p))).collect())
}

/// The resident themself or one of their dependants; anyone else is refused.
pub async fn self_or_dependant(state: &AppState, resident: &Resident, id: Option<i64>) -> PageResult<Person> {
    match id {
        None => Ok(resident.person.clone()),
        Some(id) if id == resident.person.id.0 => Ok(resident.person.clone()),
        Some(id) => {
            let dependants = state.store.dependants(resident.person.id).await?;
            if !dependants.iter().any(|d| d.person_id.0 == id) {
                return Err(PageError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "not_a_dependant",
                    "只能查看本人或已添加家属的信息",
                    "You can only see yourself and the family members you added",
                ));
            }
            Ok(state.store.get_person(PersonId(id)).await?)
        }
    }
}

fn colour_class(c: Colour) -> &'static str {
    match c {
        Colour::Green => "colour-green",
        Colour::Yellow => "colour-yellow",
        Colour::Red => "colour-red",
    }
}

fn colour_label(lang: Lang, c: Colour) -> &'static str {
    match c {
        Colour::Green => lang.t("绿码", "Green"),
        Colour::Yellow => lang.t("黄码", "Yellow"),
        Colour::Red => lang.t("红码", "Red"),
    }
}

fn status_rows(state: &AppState, lang: Lang, status: &LiveStatus) -> Markup {
    html! {
        table {
            tr { th { (lang.t("核酸检测", "Last NAT")) } td {
                @match &status.last_nat {
                    Some(n) => { (state.local(n.sampled_at).format("%Y-%m-%d %H:%M")) " " (match n.outcome.code() { "negative" => lang.t("阴性", "negative"), _ => lang.t("阳性", "positive") }) }
                    None => { (lang.t("无记录", "none on record")) }
                }
            } }
            tr { th { (lang.t("疫苗接种", "Vaccination")) } td { (status.vaccine_doses) (lang.t(" 剂", " doses")) } }
            tr { th { (lang.t("行程卡", "Itinerary")) } td {
                @if status.itinerary_risk { strong { (lang.t("14天内到过风险地区（带星）", "Risk area within 14 days (starred)")) } }
                @else { (lang.t("未到过风险地区", "No risk area")) }
            } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PersonQuery {
    person: Option<i64>,
}

/// My health code (or a dependant's): the QR, colour, NAT, vaccination, itinerary.
pub async fn my_code(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Query(q): Query<PersonQuery>,
) -> Result<Html<String>, Response> {
    let back = match q.person {
        Some(p) => format!("/r/code?person={p}"),
        None => "/r/code".into(),
    };
    let resident = resident_or_sign_in(maybe, &back)?;
    code_page(&state, lang, &resident, q.person, &back).await.map_err(IntoResponse::into_response)
}

async fn code_page(
    state: &AppState,
    lang: Lang,
    resident: &Resident,
    person: Option<i64>,
    back: &str,
) -> PageResult<Html<String>> {
    let person = self_or_dependant(state, resident, person).await?;
    let actor = Actor { name: resident.actor_name(), request_id: None };
    let code = issue(state, &actor, &person, CredentialKind::Dynamic).await?;
    let status = state.status.status(&*state.store, person.id, state.now(), state.tz).await?;
    let qr =
        sentinel_credential::qr::svg(&code.token, 280).map_err(|_| crate::error::ApiError::internal())?;
    let refresh = match person.id == resident.person.id {
        true => "/r/code.json".to_owned(),
        false => format!("/r/code.json?person={}", person.id),
    };
    let dependants = state.store.dependants(resident.person.id).await?;
    let body = html! {
        (nav(lang))
        div.code.(colour_class(status.colour)) id="health-code" data-refresh=(refresh) data-after=(code.refresh_after_seconds.unwrap_or(60)) data-token=(code.token) {
            div.label id="colour" data-colour=(status.colour.code()) { (colour_label(lang, status.colour)) }
            p { strong { (person.name.masked()) } " " (person.id_number.masked()) }
            div.qr { (raw(&qr)) }
            p.en { (lang.t("有效期至 ", "Valid until ")) span data-expires { (code.expires_at.format("%H:%M:%S")) } (lang.t("，到期前自动刷新", "; refreshes by itself")) }
        }
        div.card { (status_rows(state, lang, &status)) }
        form method="post" action="/r/paper" {
            input type="hidden" name="csrf" value=(resident.session.csrf_token);
            input type="hidden" name="person" value=(person.id.0);
            button.secondary type="submit" { (lang.t("打印24小时纸质码", "Print a 24-hour paper code")) }
        }
        @if !dependants.is_empty() {
            h2 { (lang.t("家属健康码", "Family codes")) }
            nav.links {
                a href="/r/code" { (lang.t("本人", "Me")) }
                @for d in &dependants { a href={ "/r/code?person=" (d.person_id.0) } { (d.relation) } }
            }
        }
    };
    Ok(page(state, lang, back, lang.t("我的健康码", "My health code"), body))
}

fn nav(lang: Lang) -> Markup {
    html! {
        nav.links {
            a href="/r/code" { (lang.t("健康码", "Health code")) }
            a href="/r/visits" { (lang.t("到访记录", "My visits")) }
            a href="/r/family" { (lang.t("家属", "Family")) }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CodeJson {
    token: String,
    svg: String,
    expires_at: String,
    refresh_after_seconds: u32,
}

/// A fresh code for the page's refresh.
pub async fn code_json(
    State(state): State<AppState>,
    maybe: MaybeResident,
    Query(q): Query<PersonQuery>,
) -> PageResult<Json<CodeJson>> {
    let resident = maybe.0.ok_or_else(|| {
        PageError::new(axum::http::StatusCode::UNAUTHORIZED, "unauthenticated", "请先登录", "Please sign in")
    })?;
    let person = self_or_dependant(&state, &resident, q.person).await?;
    let code = issue(
        &state,
        &Actor { name: resident.actor_name(), request_id: None },
        &person,
        CredentialKind::Dynamic,
    )
    .await?;
    let svg =
        sentinel_credential::qr::svg(&code.token, 280).map_err(|_| crate::error::ApiError::internal())?;
    Ok(Json(CodeJson {
        svg: raw(&svg).0.to_owned(),
        token: code.token,
        expires_at: code.expires_at.format("%H:%M:%S").to_string(),
        refresh_after_seconds: code.refresh_after_seconds.unwrap_or(60),
    }))
}

/// My visits of the last four weeks, newest first.
pub async fn my_visits(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
) -> Result<Html<String>, Response> {
    let resident = resident_or_sign_in(maybe, "/r/visits")?;
    visits_page(&state, lang, &resident).await.map_err(IntoResponse::into_response)
}

async fn visits_page(state: &AppState, lang: Lang, resident: &Resident) -> PageResult<Html<String>> {
    let filter = VisitFilter {
        person: Some(resident.person.id),
        from: Some(state.now() - Duration::days(28)),
        ..Default::default()
    };
    let mut visits = sentinel_store::all_pages(|p| state.store.list_visits(&filter, p)).await?;
    visits.sort_by_key(|v| std::cmp::Reverse(v.entered_at));
    visits.truncate(PageRequest::MAX_LIMIT as usize);
    let venues = crate::api::cases::venue_names(state, visits.iter().map(|v| v.venue_id).collect()).await?;
    let body = html! {
        (nav(lang))
        h1 { (lang.t("我的到访记录", "My visits")) }
        @if visits.is_empty() { p { (lang.t("近28天没有到访记录。", "No visits in the last 28 days.")) } }
        @else {
            table id="visits" {
                tr { th { (lang.t("时间", "Time")) } th { (lang.t("场所", "Venue")) } th { (lang.t("结果", "Result")) } }
                @for v in &visits {
                    tr {
                        td { (state.local(v.entered_at).format("%m-%d %H:%M")) @if let Some(l) = v.left_at { " – " (state.local(l).format("%H:%M")) } }
                        td { (venues.get(&v.venue_id).map_or("—", |x| x.name.as_str())) }
                        td { (outcome_label(lang, &v.outcome)) }
                    }
                }
            }
        }
    };
    Ok(page(state, lang, "/r/visits", lang.t("到访记录", "My visits"), body))
}

pub fn outcome_label(lang: Lang, outcome: &str) -> &'static str {
    match outcome {
        "pass" => lang.t("通行", "Admitted"),
        "remind" => lang.t("通行（提醒）", "Admitted with a reminder"),
        _ => lang.t("禁止通行", "Denied"),
    }
}

/// Family members: listed with links to their codes, added after their ID number and name are checked.
pub async fn family(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
) -> Result<Html<String>, Response> {
    let resident = resident_or_sign_in(maybe, "/r/family")?;
    family_page(&state, lang, &resident, None).await.map_err(IntoResponse::into_response)
}

async fn family_page(
    state: &AppState,
    lang: Lang,
    resident: &Resident,
    notice: Option<&str>,
) -> PageResult<Html<String>> {
    let rows = family_of(state, &resident.person).await?;
    let body = html! {
        (nav(lang))
        h1 { (lang.t("家属（代登记）", "Family members (proxy check-in)")) }
        @if let Some(n) = notice { p.notice { (n) } }
        @if rows.is_empty() { p { (lang.t("尚未添加家属。老人和儿童没有手机时，可由您代为出示健康码和扫码登记。", "No family members yet. Add an elderly relative or a child without a phone to show their code and check them in with you.")) } }
        @else {
            table id="dependants" {
                @for (d, p) in &rows {
                    tr {
                        td { (d.relation) } td { (p.name.masked()) }
                        td { a href={ "/r/code?person=" (p.id.0) } { (lang.t("健康码", "Code")) } }
                        td {
                            form method="post" action="/r/family/remove" {
                                input type="hidden" name="csrf" value=(resident.session.csrf_token);
                                input type="hidden" name="person" value=(p.id.0);
                                button.secondary type="submit" { (lang.t("移除", "Remove")) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("添加家属", "Add a family member")) }
        form method="post" action="/r/family" id="add-dependant" {
            input type="hidden" name="csrf" value=(resident.session.csrf_token);
            label { (lang.t("姓名", "Name")) input name="name" required maxlength="30"; }
            label { (lang.t("身份证号码", "ID number")) input name="id_number" required maxlength="18" autocomplete="off"; }
            label { (lang.t("关系（如 母亲、儿子）", "Relation (e.g. mother, son)")) input name="relation" required maxlength="10"; }
            button type="submit" { (lang.t("核验并添加", "Check and add")) }
        }
    };
    Ok(page(state, lang, "/r/family", lang.t("家属", "Family"), body))
}

/// Children below this age, and people from `ELDERLY_AGE` on, may be checked in by a guardian.
pub const MINOR_AGE: u32 = 14;
pub const ELDERLY_AGE: u32 = 60;

/// Whether `person` may become `guardian`'s dependant on the guardian's word.
pub fn may_be_dependant(person: &Person, guardian: &Person, today: chrono::NaiveDate) -> bool {
    let age = today.years_since(person.id_number.birth_date()).unwrap_or(0);
    !(MINOR_AGE..ELDERLY_AGE).contains(&age) || (person.phone.is_some() && person.phone == guardian.phone)
}

#[derive(Debug, Deserialize)]
pub struct DependantForm {
    csrf: String,
    name: String,
    id_number: String,
    relation: String,
}

/// Adds a dependant after checking the ID number is on record under that name.
pub async fn add_dependant(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Form(f): Form<DependantForm>,
) -> Result<Html<String>, Response> {
    let resident = resident_or_sign_in(maybe, "/r/family")?;
    async {
        resident.check_csrf(&f.csrf)?;
        let relation = f.relation.trim();
        if relation.is_empty() || relation.chars().count() > 10 {
            return Err(PageError::bad_input("关系应为1–10个字", "The relation must be 1–10 characters"));
        }
        let name = PersonName::parse(f.name.trim())
            .map_err(|e| PageError::bad_input(format!("姓名无效：{e}"), format!("Invalid name: {e}")))?;
        let number = parse_id_number(&state, &f.id_number)?;
        let mismatch = || {
            PageError::bad_input(
                "身份证号码与姓名不一致或未登记，请核对后重试",
                "The ID number and name do not match anyone on record: check them and try again",
            )
            .with_next("/r/family", "返回家属页面", "Back to family")
        };
        let dependant = state.store.find_person_by_id_number(&number).await?.ok_or_else(mismatch)?;
        let id = dependant.id;
        if dependant.name != name {
            return Err(mismatch());
        }
        if id == resident.person.id {
            return Err(PageError::bad_input("不能添加本人为家属", "You cannot add yourself").with_next(
                "/r/family",
                "返回",
                "Back",
            ));
        }
        // Knowing a name and an ID number proves little: only those who need someone to check them in
        // (children, the elderly) or who share the guardian's phone may be added here.
        if !may_be_dependant(&dependant, &resident.person, state.local(state.now()).date_naive()) {
            return Err(PageError::new(
                axum::http::StatusCode::FORBIDDEN,
                "not_eligible",
                format!(
                    "只能为未满{MINOR_AGE}周岁的儿童、{ELDERLY_AGE}周岁以上的老人或与您共用手机号的家人代登记；其他家人请自行登记"
                ),
                format!(
                    "Only children under {MINOR_AGE}, people aged {ELDERLY_AGE} or more, or family sharing your phone can be added; others sign in themselves"
                ),
            )
            .with_next("/r/family", "返回", "Back"));
        }
        match state.store.add_dependant(resident.person.id, id, relation, state.now()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(PageError::new(
                    axum::http::StatusCode::CONFLICT,
                    "dependant_exists",
                    "该家属已添加",
                    "Already added",
                )
                .with_next("/r/family", "返回", "Back"));
            }
            Err(e) => return Err(e.into()),
        }
        crate::api::audit::record_by(
            &state,
            &Actor { name: resident.actor_name(), request_id: None },
            "resident.dependant.add",
            Some(format!("person:{id}")),
            None,
            None,
        )
        .await?;
        family_page(&state, lang, &resident, Some(lang.t("已添加。", "Added."))).await
    }
    .await
    .map_err(IntoResponse::into_response)
}

#[derive(Debug, Deserialize)]
pub struct PersonForm {
    csrf: String,
    person: i64,
}

pub async fn remove_dependant(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Form(f): Form<PersonForm>,
) -> Result<Html<String>, Response> {
    let resident = resident_or_sign_in(maybe, "/r/family")?;
    async {
        resident.check_csrf(&f.csrf)?;
        match state.store.remove_dependant(resident.person.id, PersonId(f.person)).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        family_page(&state, lang, &resident, Some(lang.t("已移除。", "Removed."))).await
    }
    .await
    .map_err(IntoResponse::into_response)
}

/// A 24-hour paper code for me or a dependant, as a printable card.
pub async fn paper_code(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Form(f): Form<PersonForm>,
) -> Result<Html<String>, Response> {
    let resident = resident_or_sign_in(maybe, "/r/code")?;
    async {
        resident.check_csrf(&f.csrf)?;
        let person = self_or_dependant(&state, &resident, Some(f.person)).await?;
        let actor = Actor { name: resident.actor_name(), request_id: None };
        let code = issue(&state, &actor, &person, CredentialKind::Paper).await?;
        let qr = sentinel_credential::qr::svg(&code.token, 300).map_err(|_| crate::error::ApiError::internal())?;
        let card = paper_card_svg(&qr, &person.name.masked(), &code.expires_at.format("%Y-%m-%d %H:%M").to_string());
        let body = html! {
            h1 { (lang.t("纸质健康码", "Paper health code")) }
            p { (lang.t("请打印后交给家人随身携带，24小时内有效；遗失请联系社区作废。", "Print it for your relative to carry; valid 24 hours. Report a lost card to your community.")) }
            div.card.qr id="paper-card" data-token=(code.token) { (raw(&card)) }
            button type="button" onclick="window.print()" { (lang.t("打印", "Print")) }
        };
        Ok(page(&state, lang, "/r/code", lang.t("纸质健康码", "Paper code"), body))
    }
    .await
    .map_err(|e: PageError| e.into_response())
}
