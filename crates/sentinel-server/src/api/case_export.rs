//! A case's notification list (通知名单) as CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX:
//! masked unless the caller may unmask and states a purpose (audited). No cell can start a formula.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sentinel_core::{Permission, PersonId};
use sentinel_store::{CaseContact, Person};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::IntoParams;

use super::cases::{load_case, parse_tier, venue_names};
use super::persons::PersonView;
use super::purpose;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// Only one tier: `close`, `secondary` or `companion`.
    pub tier: Option<String>,
    /// States why names and numbers are needed in full; without it the list is masked.
    pub purpose: Option<String>,
}

const HEADER: [&str; 13] = [
    "序号 No.",
    "层级 Tier",
    "姓名 Name",
    "身份证号 ID number",
    "手机 Phone",
    "所属社区 Home region",
    "接触场所 Venue",
    "场所地址 Venue address",
    "接触开始 From",
    "接触结束 To",
    "共处分钟 Minutes together",
    "经由 Via (person id)",
    "赋码 Code assigned",
];

fn tier_label(tier: &str) -> &'static str {
    match tier {
        "close" => "密接 close",
        "secondary" => "次密接 secondary",
        _ => "时空伴随 companion",
    }
}

/// A cell a spreadsheet shows as text: one starting like a formula (= + - @, tab, CR) gets a leading
/// apostrophe, so opening the list can never run anything (CSV injection).
pub fn safe_cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// The rows of the list as text; `safe_cell` before writing them where a formula could start.
async fn rows(state: &AppState, contacts: &[CaseContact], unmasked: bool) -> ApiResult<Vec<[String; 13]>> {
    let venues = venue_names(state, contacts.iter().map(|c| c.venue_id).collect()).await?;
    let ids: Vec<PersonId> = contacts.iter().map(|c| c.person_id).collect();
    let persons: HashMap<PersonId, Person> =
        state.store.get_persons(&ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut out = Vec::with_capacity(contacts.len());
    for (i, c) in contacts.iter().enumerate() {
        let person = persons.get(&c.person_id).map(|p| match unmasked {
            true => PersonView::unmasked(state, p),
            false => PersonView::masked(state, p),
        });
        let (name, id_number, phone, region) = match person {
            Some(p) => (p.name, p.id_number, p.phone.unwrap_or_default(), p.region_code),
            None => Default::default(),
        };
        let (venue, address) =
            venues.get(&c.venue_id).map(|v| (v.name.clone(), v.address.clone())).unwrap_or_default();
        let cells = [
            (i + 1).to_string(),
            tier_label(&c.tier).to_owned(),
            name,
            id_number,
            phone,
            region,
            venue,
            address,
            state.local(c.from).format("%Y-%m-%d %H:%M:%S").to_string(),
            state.local(c.to).format("%Y-%m-%d %H:%M:%S").to_string(),
            format!("{:.1}", c.overlap_secs as f64 / 60.0),
            c.via.0.to_string(),
            if c.assignment_id.is_some() { "是 yes" } else { "否 no" }.to_owned(),
        ];
        out.push(cells);
    }
    Ok(out)
}

/// The contacts to list, after the caller's rights and purpose are checked and the export audited.
async fn prepare(
    state: &AppState,
    caller: &Caller,
    id: i64,
    q: &ExportQuery,
    format: &str,
) -> ApiResult<(Vec<[String; 13]>, String)> {
    let tier = parse_tier(q.tier.as_deref())?;
    let purpose = purpose(q.purpose.as_deref())?;
    let unmasked = purpose.is_some();
    if unmasked {
        // The list spans the whole city: unmasking it needs the right everywhere.
        caller.require_deployment_wide(Permission::UnmaskPersons)?;
    }
    let case = load_case(state, caller, id).await?;
    let contacts = state.store.case_contacts(case.id, tier, None).await?;
    let action = if unmasked { "case.export.unmask" } else { "case.export" };
    super::audit::record(
        state,
        caller,
        action,
        Some(format!("case:{id}")),
        purpose,
        Some(format!("{format} rows:{}", contacts.len())),
    )
    .await?;
    let name = format!("case-{id}-contacts{}.{format}", if unmasked { "" } else { "-masked" });
    Ok((rows(state, &contacts, unmasked).await?, name))
}

fn attachment(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

/// The notification list as CSV, UTF-8 with a byte-order mark.
#[utoipa::path(get, path = "/api/v1/cases/{id}/export.csv", tag = "tracing", params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let (rows, filename) = prepare(&state, &caller, id, &q, "csv").await?;
    let mut out = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    let fail = |_| ApiError::internal();
    out.write_record(HEADER).map_err(fail)?;
    for r in &rows {
        out.write_record(r.iter().map(|cell| safe_cell(cell))).map_err(fail)?;
    }
    let body = out.into_inner().map_err(|_| ApiError::internal())?;
    Ok(attachment("text/csv; charset=utf-8", &filename, body))
}

/// The notification list as an XLSX workbook, every cell text.
#[utoipa::path(get, path = "/api/v1/cases/{id}/export.xlsx", tag = "tracing", params(ExportQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn export_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let (rows, filename) = prepare(&state, &caller, id, &q, "xlsx").await?;
    let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("通知名单")?;
        for (col, h) in HEADER.iter().enumerate() {
            sheet.write_string(0, col as u16, *h)?;
        }
        for (row, cells) in rows.iter().enumerate() {
            for (col, cell) in cells.iter().enumerate() {
                // A string cell is never evaluated: the text goes in as it is, no apostrophe needed.
                sheet.write_string(row as u32 + 1, col as u16, cell)?;
            }
        }
        book.save_to_buffer()
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        tracing::error!(error = %e, "writing the XLSX list failed");
        ApiError::internal()
    })?;
    Ok(attachment("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", &filename, body))
}
