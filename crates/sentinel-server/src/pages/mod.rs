//! Pages for people, rendered on the server (no JavaScript framework; a few lines of script for the
//! running clock and the code refresh): residents under `/r/`, the check-in result at `/v/{token}`, staff
//! under `/s/`. Simplified Chinese first, English by the switch in the header (remembered in a cookie).

pub mod checkin;
pub mod layout;
pub mod posters;
pub mod resident;
pub mod session;
pub mod staff;

use axum::Router;
use axum::routing::{get, post};

pub use layout::{Lang, PageError, PageResult};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/site.css", get(layout::stylesheet))
        .route("/assets/site.js", get(layout::script))
        .route("/lang", get(layout::switch_language))
        .route("/r/", get(resident::home))
        .route("/r/login", get(resident::login_page).post(resident::request_code))
        .route("/r/verify", post(resident::verify_code))
        .route("/r/logout", post(resident::logout))
        .route("/r/code", get(resident::my_code))
        .route("/r/code.json", get(resident::code_json))
        .route("/r/visits", get(resident::my_visits))
        .route("/r/family", get(resident::family).post(resident::add_dependant))
        .route("/r/family/remove", post(resident::remove_dependant))
        .route("/r/paper", post(resident::paper_code))
        .route("/v/{token}", get(checkin::scan).post(checkin::check_in_chosen))
        .route("/v/{token}/checkout", post(checkin::check_out))
        .route("/s/", get(staff::home))
        .route("/s/login", get(staff::login_page).post(staff::login))
        .route("/s/logout", post(staff::logout))
        .route("/s/manual", get(staff::manual_page).post(staff::manual))
        .route("/s/paper", get(staff::paper_page).post(staff::paper))
        .route("/s/unvaccinated", get(staff::unvaccinated_page).post(staff::unvaccinated))
        .route("/s/posters", get(posters::list))
        .route("/s/posters/reissue", post(posters::reissue))
}
