//! Place codes (场所码) and their posters: the signed token and URL a venue's QR carries, reissuing it when
//! a poster is lost or defaced (the old one then says it is retired), the poster as SVG, 300 dpi PNG and
//! A4 PDF, and a district's posters in one ZIP or one multi-page PDF for the print shop.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sentinel_core::Permission;
use sentinel_credential::PlaceCode;
use sentinel_store::{StoreError, Venue, VenueFilter, all_pages};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::regions::parse_region;
use super::venues::venue_in_scope;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// A bulk export is for one district or street at a time; a whole city would be one enormous file.
pub const MAX_BULK_POSTERS: usize = 500;
/// Print resolution of the PNG poster.
pub const POSTER_DPI: u32 = 300;

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceCodeView {
    /// Signed venue id and poster version (URL-safe).
    pub token: String,
    /// What the poster's QR encodes: `{public base URL}/v/{token}`.
    pub url: String,
    /// Poster version; reissuing moves it up and retires every older poster.
    pub version: u32,
    /// Printed under the QR, e.g. `320508-000042-v3`.
    pub code_number: String,
}

/// The number printed on the poster: region, venue, version.
pub fn code_number(venue: &Venue, version: u32) -> String {
    format!(
        "{}-{:06}-v{version}",
        venue.region_code.as_str().get(..6).unwrap_or(venue.region_code.as_str()),
        venue.id.0
    )
}

/// The venue's current place code.
pub fn place_code(state: &AppState, venue: &Venue) -> PlaceCodeView {
    let version = venue.place_code_version;
    let token = state.keyring.sign_place(PlaceCode { venue_id: venue.id.0, version });
    PlaceCodeView {
        url: format!("{}/v/{token}", state.public_base_url.trim_end_matches('/')),
        token,
        version,
        code_number: code_number(venue, version),
    }
}

#[utoipa::path(get, path = "/api/v1/venues/{id}/place-code", tag = "registry",
    responses((status = 200, body = PlaceCodeView), (status = 404, body = crate::error::Problem)))]
pub async fn get_place_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PlaceCodeView>> {
    let venue = venue_in_scope(&state, &caller, Permission::ReadRegistry, id).await?;
    Ok(Json(place_code(&state, &venue)))
}

/// A new poster for a lost or defaced one: every earlier poster of the venue is retired at once.
#[utoipa::path(post, path = "/api/v1/venues/{id}/place-code/reissue", tag = "registry",
    responses((status = 200, body = PlaceCodeView), (status = 404, body = crate::error::Problem)))]
pub async fn reissue_place_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PlaceCodeView>> {
    Ok(Json(reissue(&state, &caller, id).await?))
}

/// Retires the venue's posters (the caller must manage it), audited; the API and the staff desk both.
pub async fn reissue(state: &AppState, caller: &Caller, id: i64) -> ApiResult<PlaceCodeView> {
    let mut venue = venue_in_scope(state, caller, Permission::ManageVenues, id).await?;
    venue.place_code_version = state.store.reissue_place_code(venue.id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("venue"),
        other => other.into(),
    })?;
    let detail = Some(format!("v{}", venue.place_code_version));
    super::audit::record(
        state,
        caller,
        "place_code.reissue",
        Some(format!("venue:{}", venue.id)),
        None,
        detail,
    )
    .await?;
    Ok(place_code(state, &venue))
}

fn poster_svg(state: &AppState, venue: &Venue, code: &PlaceCodeView, family: &str) -> ApiResult<String> {
    let poster = sentinel_print::Poster {
        issuer: &state.city_name,
        venue_name: &venue.name,
        category_zh: venue.category.label_zh(),
        category_en: venue.category.label_en(),
        address: &venue.address,
        code_number: &code.code_number,
        url: &code.url,
    };
    sentinel_print::poster_svg(&poster, family).map_err(|e| {
        tracing::error!(error = %e, venue = venue.id.0, "poster layout failed");
        ApiError::internal()
    })
}

/// The venue's current place code and its poster laid out for `family` (the demo writes it to files).
pub fn current_poster(state: &AppState, venue: &Venue, family: &str) -> ApiResult<(PlaceCodeView, String)> {
    let code = place_code(state, venue);
    let svg = poster_svg(state, venue, &code, family)?;
    Ok((code, svg))
}

/// Runs print work (rasterising, PDF conversion) on the blocking pool: it is CPU-bound for a while.
async fn render<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, sentinel_print::PrintError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(job).await.map_err(|_| ApiError::internal())?.map_err(|e| {
        tracing::error!(error = %e, "rendering a poster failed");
        ApiError::internal()
    })
}

fn file(content_type: &'static str, name: String, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// The poster format a path asks for.
#[derive(Debug, Clone, Copy)]
enum Format {
    Svg,
    Png,
    Pdf,
}

async fn poster(state: AppState, caller: Caller, id: i64, format: Format) -> ApiResult<Response> {
    let venue = venue_in_scope(&state, &caller, Permission::ReadRegistry, id).await?;
    let code = place_code(&state, &venue);
    let name = format!("poster-{}-v{}", venue.id.0, code.version);
    if let Format::Svg = format {
        // The SVG names the font family and lets the viewer find it: no fonts needed on the server.
        let svg = poster_svg(&state, &venue, &code, sentinel_print::fonts::CJK_FAMILIES[0])?;
        return Ok(file("image/svg+xml; charset=utf-8", format!("{name}.svg"), svg.into_bytes()));
    }
    let fonts = state.fonts()?.clone();
    let svg = poster_svg(&state, &venue, &code, &fonts.family)?;
    Ok(match format {
        Format::Png => file(
            "image/png",
            format!("{name}.png"),
            render(move || sentinel_print::png(&svg, &fonts, POSTER_DPI)).await?,
        ),
        _ => file(
            "application/pdf",
            format!("{name}.pdf"),
            render(move || sentinel_print::pdf_pages(&[svg], &fonts)).await?,
        ),
    })
}

#[utoipa::path(get, path = "/api/v1/venues/{id}/poster.svg", tag = "registry",
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = crate::error::Problem)))]
pub async fn poster_svg_file(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    poster(state, caller, id, Format::Svg).await
}

/// A4 at 300 dpi (2480 × 3508 pixels), the resolution recorded in the file.
#[utoipa::path(get, path = "/api/v1/venues/{id}/poster.png", tag = "registry",
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 503, body = crate::error::Problem)))]
pub async fn poster_png_file(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    poster(state, caller, id, Format::Png).await
}

#[utoipa::path(get, path = "/api/v1/venues/{id}/poster.pdf", tag = "registry",
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 503, body = crate::error::Problem)))]
pub async fn poster_pdf_file(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    poster(state, caller, id, Format::Pdf).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BulkQuery {
    /// The district, street or community whose venues to print (region code).
    pub region: String,
}

/// The caller's venues in the region, with their current poster SVGs.
async fn region_posters(
    state: &AppState,
    caller: &Caller,
    region: &str,
    family: &str,
) -> ApiResult<Vec<(Venue, String)>> {
    caller.require(Permission::ReadRegistry)?;
    let filter = VenueFilter {
        scope: Some(caller.user.scope.clone()),
        region: Some(parse_region("region", region)?),
        ..Default::default()
    };
    let venues = all_pages(|page| state.store.list_venues(&filter, page)).await?;
    if venues.len() > MAX_BULK_POSTERS {
        return Err(ApiError::invalid(
            "region",
            format!(
                "该区域有{}个场所，一次最多导出{MAX_BULK_POSTERS}个，请选择街道或社区 / {} venues: at most {MAX_BULK_POSTERS} per export, choose a street or community",
                venues.len(),
                venues.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(venues.len());
    for venue in venues {
        let code = place_code(state, &venue);
        let svg = poster_svg(state, &venue, &code, family)?;
        out.push((venue, svg));
    }
    Ok(out)
}

/// One A4 page per venue of the region (within the caller's scope), ordered by venue id.
#[utoipa::path(get, path = "/api/v1/posters.pdf", tag = "registry", params(BulkQuery),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 422, body = crate::error::Problem)))]
pub async fn bulk_pdf(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<BulkQuery>,
) -> ApiResult<Response> {
    let fonts = state.fonts()?.clone();
    let posters = region_posters(&state, &caller, &q.region, &fonts.family).await?;
    let svgs: Vec<String> = posters.into_iter().map(|(_, svg)| svg).collect();
    let pdf = render(move || sentinel_print::pdf_pages(&svgs, &fonts)).await?;
    Ok(file("application/pdf", format!("posters-{}.pdf", q.region), pdf))
}

/// A ZIP with each venue's poster as A4 PDF and SVG (`{venue id}-{name}.pdf`).
#[utoipa::path(get, path = "/api/v1/posters.zip", tag = "registry", params(BulkQuery),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>), (status = 422, body = crate::error::Problem)))]
pub async fn bulk_zip(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<BulkQuery>,
) -> ApiResult<Response> {
    let fonts = state.fonts()?.clone();
    let posters = region_posters(&state, &caller, &q.region, &fonts.family).await?;
    let zip = render(move || {
        let mut files = Vec::with_capacity(posters.len() * 2);
        for (venue, svg) in posters {
            // File names keep the Chinese name (ZIP marks them UTF-8) minus path characters.
            let base: String = format!("{:06}-{}", venue.id.0, venue.name)
                .chars()
                .map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c })
                .collect();
            files.push((
                format!("{base}.pdf"),
                sentinel_print::pdf_pages(std::slice::from_ref(&svg), &fonts)?,
            ));
            files.push((format!("{base}.svg"), svg.into_bytes()));
        }
        sentinel_print::zip_files(&files)
    })
    .await?;
    Ok(file("application/zip", format!("posters-{}.zip", q.region), zip))
}
