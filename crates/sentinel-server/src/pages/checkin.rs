//! `/v/{token}`: a resident's phone camera opens the poster's URL; the check-in is recorded and the result
//! page shown, which staff at the door look at: a big colour, the venue, the masked name, and the time to
//! the second with a running clock and an animation, so a screenshot is recognisable as one. A guardian
//! checks family members in with themself in one step (each gets their own visit and decision).

use std::collections::HashMap;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use sentinel_core::entry::{Channel, Readings};
use sentinel_core::{PersonId, VenueId};
use sentinel_store::{PageRequest, Person, StoreError, Venue, Visit, VisitFilter};

use super::layout::{Lang, PageError, PageResult, page};
use super::resident::outcome_label;
use super::session::{MaybeResident, Resident, resident_or_sign_in};
use crate::entry::checkin;
use crate::state::AppState;

/// A second scan of the same venue within this time shows the first visit instead of recording another.
pub const RESCAN_WINDOW: Duration = Duration::seconds(60);

/// Whether a superseded poster's token is still good for what is asked: checking in is not, checking out
/// of a visit made before the reissue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    Refuse,
    Accept,
}

/// The venue a place-code token names, if the token is genuine and its poster still current.
pub async fn resolve_place(state: &AppState, token: &str, retired: Retired) -> PageResult<Venue> {
    let invalid = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "place_code_invalid",
            "场所码无效：二维码可能被篡改或不是本市场所码，请联系场所工作人员",
            "This place code is not valid: it may have been tampered with. Ask the staff at the entrance.",
        )
    };
    let code = state.keyring.verify_place(token).map_err(|_| invalid())?;
    let venue = match state.store.get_venue(VenueId(code.venue_id)).await {
        Ok(v) => v,
        Err(StoreError::NotFound) => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                "venue_not_found",
                "该场所不存在或已停用",
                "This venue does not exist or has closed",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let current = venue.place_code_version;
    if code.version < current && retired == Retired::Refuse {
        return Err(PageError::new(
            StatusCode::GONE,
            "place_code_retired",
            "该场所码已停用（海报已更换），请扫描场所现场张贴的新场所码",
            "This poster has been replaced: scan the new place code posted at the entrance",
        ));
    }
    if code.version > current {
        return Err(invalid());
    }
    Ok(state.store.get_venue(VenueId(code.venue_id)).await?)
}

/// Page check-ins of one person wait for each other (striped by person id), so a double tap or a reload
/// finds the first visit instead of racing it into a second one. Within one node; a second node can still
/// race, which costs at most a duplicate visit.
static PERSON_LOCKS: std::sync::LazyLock<Vec<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());

/// Checks one person in (or finds their visit of the last minute) and returns the stored visit.
async fn check_in_person(
    state: &AppState,
    venue: &Venue,
    person: &Person,
    channel: Channel,
    registrar: Option<String>,
    now: DateTime<Utc>,
) -> PageResult<Visit> {
    let stripe = person.id.0.unsigned_abs() as usize % PERSON_LOCKS.len();
    let _one_at_a_time = PERSON_LOCKS[stripe].lock().await;
    let recent = VisitFilter {
        person: Some(person.id),
        venue: Some(venue.id),
        from: Some(now - RESCAN_WINDOW),
        ..Default::default()
    };
    if let Some(earlier) =
        state.store.list_visits(&recent, PageRequest::first(1)).await?.items.into_iter().next()
    {
        return Ok(earlier);
    }
    let policy = state.policies.effective(venue.id, venue.category, now);
    let assessed = checkin::assess(state, person.id, &policy, Readings::default(), channel, now).await?;
    let entry = checkin::Entry {
        venue,
        device: None,
        person: Some(person.id),
        channel,
        decision: &assessed.decision,
        policy: &policy,
        readings: Readings::default(),
        idempotency_key: None,
        registrar,
        at: now,
    };
    let recorded = checkin::record(state, entry).await?;
    Ok(state.store.get_visit(recorded.visit_id).await?)
}

/// Whether the browser says another site sent it here (a link or a script elsewhere, not the camera or
/// the address bar): then nothing is recorded without the person confirming.
fn sent_by_another_site(headers: &HeaderMap) -> bool {
    matches!(headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()), Some("cross-site" | "same-site"))
}

/// GET `/v/{token}`: signs in first if needed; with family members (or when another site sent the browser
/// here), asks who is entering; otherwise records the check-in at once.
pub async fn scan(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let path = format!("/v/{token}");
    let venue = match resolve_place(&state, &token, Retired::Refuse).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let resident = match resident_or_sign_in(maybe, &path) {
        Ok(r) => r,
        Err(redirect) => return redirect,
    };
    let result = async {
        let family = super::resident::family_of(&state, &resident.person).await?;
        if family.is_empty() && !sent_by_another_site(&headers) {
            let visit = check_in_person(&state, &venue, &resident.person, Channel::SelfScan, None, state.now()).await?;
            return Ok(result_page(&state, lang, &token, &venue, &resident, &[(resident.person.clone(), visit)]));
        }
        let body = html! {
            h1 { (venue.name) }
            p.en { (venue.category.label_zh()) " · " (venue.address) }
            form method="post" action=(path) id="choose" {
                input type="hidden" name="csrf" value=(resident.session.csrf_token);
                p { (lang.t("请选择本次进入的人员：", "Who is entering now?")) }
                label { input type="checkbox" name={ "p_" (resident.person.id.0) } checked; (lang.t("本人 ", "Me ")) (resident.person.name.masked()) }
                @for (d, p) in &family {
                    label { input type="checkbox" name={ "p_" (p.id.0) }; (d.relation) " " (p.name.masked()) }
                }
                button type="submit" id="check-in" { (lang.t("登记进入", "Check in")) }
            }
        };
        Ok::<_, PageError>(page(&state, lang, &path, &venue.name, body))
    }
    .await;
    match result {
        Ok(html) => html.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The persons a form names (`p_{id}` fields) that the resident may check in: themself and dependants.
async fn chosen(
    state: &AppState,
    resident: &Resident,
    form: &HashMap<String, String>,
) -> PageResult<Vec<(Person, Channel)>> {
    let family = super::resident::family_of(state, &resident.person).await?;
    let mut ids: Vec<i64> = form.keys().filter_map(|k| k.strip_prefix("p_")?.parse().ok()).collect();
    ids.sort_unstable();
    let mut out = Vec::new();
    // The resident first, then dependants in the order they were added.
    if ids.contains(&resident.person.id.0) {
        out.push((resident.person.clone(), Channel::SelfScan));
    }
    for (_, p) in family.into_iter().filter(|(d, _)| ids.contains(&d.person_id.0)) {
        out.push((p, Channel::Proxy));
    }
    if out.len() != ids.len() {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "not_a_dependant",
            "只能为本人或已添加的家属登记",
            "You can only check in yourself and your family members",
        ));
    }
    if out.is_empty() {
        return Err(PageError::bad_input("请至少选择一人", "Choose at least one person"));
    }
    Ok(out)
}

/// POST `/v/{token}`: the guardian and the family members they ticked, one visit each.
pub async fn check_in_chosen(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let path = format!("/v/{token}");
    let resident = match resident_or_sign_in(maybe, &path) {
        Ok(r) => r,
        Err(redirect) => return redirect,
    };
    let result = async {
        let venue = resolve_place(&state, &token, Retired::Refuse).await?;
        resident.check_csrf(form.get("csrf").map_or("", String::as_str))?;
        let people = chosen(&state, &resident, &form).await?;
        let now = state.now();
        let mut visits = Vec::with_capacity(people.len());
        for (person, channel) in people {
            let registrar = (channel == Channel::Proxy).then(|| resident.actor_name());
            let visit = check_in_person(&state, &venue, &person, channel, registrar, now).await?;
            visits.push((person, visit));
        }
        Ok::<_, PageError>(result_page(&state, lang, &token, &venue, &resident, &visits))
    }
    .await;
    match result {
        Ok(html) => html.into_response(),
        Err(e) => e.into_response(),
    }
}

fn verdict_class(outcome: &str) -> &'static str {
    match outcome {
        "pass" | "remind" => "colour-green",
        _ => "colour-red",
    }
}

fn result_card(state: &AppState, lang: Lang, venue: &Venue, person: &Person, visit: &Visit) -> Markup {
    let local = state.local(visit.entered_at);
    let offset_ms = i64::from(state.tz.local_minus_utc()) * 1000;
    html! {
        div.result.(verdict_class(&visit.outcome)) data-outcome=(visit.outcome) data-visit=(visit.id) {
            div.venue { (venue.name) }
            div.pulse {}
            div.verdict { (outcome_label(lang, &visit.outcome)) }
            div { strong { (person.name.masked()) } }
            @if let Some((zh, en)) = &visit.prompt { div { (lang.t(zh, en)) } }
            div.clock data-clock=(offset_ms) data-server=(state.now().timestamp_millis()) { (state.local(state.now()).format("%Y-%m-%d %H:%M:%S")) }
            div.en { (lang.t("登记时间 ", "Checked in at ")) (local.format("%Y-%m-%d %H:%M:%S")) }
        }
    }
}

fn result_page(
    state: &AppState,
    lang: Lang,
    token: &str,
    venue: &Venue,
    resident: &Resident,
    visits: &[(Person, Visit)],
) -> Html<String> {
    let body = html! {
        @for (person, visit) in visits { (result_card(state, lang, venue, person, visit)) }
        p.en { (venue.category.label_zh()) " · " (venue.address) }
        form method="post" action={ "/v/" (token) "/checkout" } id="checkout" {
            input type="hidden" name="csrf" value=(resident.session.csrf_token);
            @for (_, visit) in visits { input type="hidden" name={ "v_" (visit.id) } value="1"; }
            button.secondary type="submit" { (lang.t("离开时签出", "Check out when leaving")) }
        }
        p { a href="/r/visits" { (lang.t("我的到访记录", "My visits")) } }
    };
    page(state, lang, &format!("/v/{token}"), &venue.name, body)
}

/// POST `/v/{token}/checkout`: the visits on the result page get their check-out time.
pub async fn check_out(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeResident,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let path = format!("/v/{token}");
    let resident = match resident_or_sign_in(maybe, &path) {
        Ok(r) => r,
        Err(redirect) => return redirect,
    };
    let result = async {
        // A poster reissued while they were inside: they still check out of the visit they made.
        let venue = resolve_place(&state, &token, Retired::Accept).await?;
        resident.check_csrf(form.get("csrf").map_or("", String::as_str))?;
        let mut allowed: Vec<PersonId> =
            state.store.dependants(resident.person.id).await?.iter().map(|d| d.person_id).collect();
        allowed.push(resident.person.id);
        let now = state.now();
        let forbidden = || {
            PageError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "只能为本人或家属签出",
                "You can only check out yourself and your family",
            )
        };
        // Every visit is checked before any is changed: one that is not theirs refuses the whole form.
        let mut theirs = Vec::new();
        for id in form.keys().filter_map(|k| k.strip_prefix("v_")?.parse::<i64>().ok()) {
            let visit = match state.store.get_visit(id).await {
                Ok(v) => v,
                Err(StoreError::NotFound) => return Err(forbidden()),
                Err(e) => return Err(e.into()),
            };
            let person = visit.person_id.filter(|p| allowed.contains(p) && visit.venue_id == venue.id);
            theirs.push((id, person.ok_or_else(forbidden)?));
        }
        let mut done = 0;
        for (id, person) in theirs {
            match state.store.check_out(id, person, now).await {
                Ok(()) => done += 1,
                // Already checked out: nothing to change.
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let body = html! {
            h1 { (lang.t("已签出", "Checked out")) }
            p { (venue.name) " · " (state.local(now).format("%Y-%m-%d %H:%M:%S")) }
            p.en { (done) (lang.t(" 人签出", " checked out")) }
            p { a href="/r/visits" { (lang.t("我的到访记录", "My visits")) } }
        };
        Ok::<_, PageError>(page(&state, lang, &path, lang.t("已签出", "Checked out"), body))
    }
    .await;
    match result {
        Ok(html) => html.into_response(),
        Err(e) => e.into_response(),
    }
}
