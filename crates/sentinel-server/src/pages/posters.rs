//! The venue manager's poster desk (`/s/posters`): the venues of their scope with each one's current
//! place-code number and poster downloads (PNG at 300 dpi, A4 PDF, SVG), the district's posters in one file,
//! and a reissue button for a lost or defaced poster (the old one is retired at once).

use axum::extract::{Form, Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use sentinel_core::{Permission, Scope};
use sentinel_store::{VenueFilter, all_pages};
use serde::Deserialize;

use super::layout::{Lang, PageError, page};
use super::session::{MaybeStaff, staff_or_sign_in};
use super::staff::nav;
use crate::api::place_codes::place_code;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    reissued: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    lang: Lang,
    maybe: MaybeStaff,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, Response> {
    let staff = staff_or_sign_in(maybe, "/s/posters")?;
    async {
        staff.caller.require(Permission::ReadRegistry)?;
        let filter = VenueFilter { scope: Some(staff.caller.user.scope.clone()), ..Default::default() };
        let venues = all_pages(|p| state.store.list_venues(&filter, p)).await?;
        let rows: Vec<_> = venues.into_iter().map(|venue| (place_code(&state, &venue), venue)).collect();
        let may_reissue = staff.caller.user.role.allows(Permission::ManageVenues);
        let region = match &staff.caller.user.scope {
            Scope::Region(r) => Some(r.to_string()),
            _ => None,
        };
        let body = html! {
            (nav(lang, &staff))
            h1 { (lang.t("场所码海报", "Place-code posters")) }
            @if let Some(id) = q.reissued {
                p.notice id="reissued" { (lang.t("已重新生成，旧海报即刻停用：", "Reissued; the old poster is retired: ")) (id) }
            }
            @if let Some(r) = &region {
                p { (lang.t("本辖区全部海报：", "All posters of your area: "))
                    a href={ "/api/v1/posters.pdf?region=" (r) } { "PDF" } " · "
                    a href={ "/api/v1/posters.zip?region=" (r) } { "ZIP" } }
            }
            table id="posters" {
                tr { th { (lang.t("场所", "Venue")) } th { (lang.t("编号", "Number")) } th { (lang.t("下载", "Download")) } th {} }
                @for (code, venue) in &rows {
                    tr data-venue=(venue.id.0) {
                        td { (venue.name) br; span.en { (venue.category.label_zh()) } }
                        td { (code.code_number) }
                        td {
                            a href={ "/api/v1/venues/" (venue.id.0) "/poster.png" } { "PNG" } " "
                            a href={ "/api/v1/venues/" (venue.id.0) "/poster.pdf" } { "PDF" } " "
                            a href={ "/api/v1/venues/" (venue.id.0) "/poster.svg" } { "SVG" }
                        }
                        td {
                            @if may_reissue {
                                form method="post" action="/s/posters/reissue" {
                                    input type="hidden" name="csrf" value=(staff.csrf);
                                    input type="hidden" name="venue" value=(venue.id.0);
                                    button.secondary type="submit" { (lang.t("重新生成", "Reissue")) }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok::<_, PageError>(page(&state, lang, "/s/posters", lang.t("场所码海报", "Posters"), body))
    }
    .await
    .map_err(IntoResponse::into_response)
}

#[derive(Debug, Deserialize)]
pub struct ReissueForm {
    csrf: String,
    venue: i64,
}

/// A lost or defaced poster: the venue's place code moves to a new version (audited), and the desk shows
/// the list again with a notice.
pub async fn reissue(
    State(state): State<AppState>,
    maybe: MaybeStaff,
    Form(f): Form<ReissueForm>,
) -> Result<Response, Response> {
    let staff = staff_or_sign_in(maybe, "/s/posters")?;
    async {
        staff.check_csrf(&f.csrf)?;
        crate::api::place_codes::reissue(&state, &staff.caller, f.venue).await?;
        Ok(axum::response::Redirect::to(&format!("/s/posters?reissued={}", f.venue)).into_response())
    }
    .await
    .map_err(|e: PageError| e.into_response())
}
