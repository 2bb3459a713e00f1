//! `POST /api/v1/imports/{kind}`: a CSV or XLSX body in, a per-row report out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use sentinel_core::Permission;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::health::import::{Context, ImportError, ImportKind, ImportReport, import as run_import};
use crate::state::AppState;

/// Largest import file accepted over HTTP (the command line has no limit).
pub const MAX_FILE_BYTES: usize = 256 << 20;

/// Imports NAT results, vaccinations or itineraries. The body is the file: CSV (`text/csv`, UTF-8 with or
/// without BOM, or GBK) or XLSX. NAT columns: `id_number,sampled_at,reported_at,result,kind[,lab,source_id]`
/// (Chinese headers 身份证号, 采样时间 … work too). Good rows are stored, bad rows reported; importing the
/// same file again stores nothing new.
#[utoipa::path(post, path = "/api/v1/imports/{kind}", tag = "health",
    params(("kind" = String, Path, description = "nat-results, vaccinations or itineraries")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = crate::error::Problem)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(kind): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<ImportReport>> {
    caller.require(Permission::WriteHealth)?;
    let kind = ImportKind::from_code(&kind).ok_or_else(|| ApiError::not_found("import kind"))?;
    let scope = caller.user.scope.clone();
    let in_scope = move |r: &sentinel_core::RegionCode| scope.covers_region(r);
    let ctx = Context { now: state.now(), tz: state.tz, in_scope: &in_scope };
    let report = run_import(&*state.store, kind, &body, &ctx, &mut |_, _| {}).await.map_err(|e| match e {
        ImportError::Store(detail) => {
            tracing::error!(%detail, "import failed in the store");
            ApiError::unavailable("数据库暂不可用 / the database is unavailable")
        }
        other => ApiError::invalid("file", other.to_string()),
    })?;
    for person in &report.touched {
        state.status.invalidate(*person);
    }
    let detail = format!(
        "{}: {} accepted, {} new, {} rejected",
        kind.code(),
        report.accepted,
        report.inserted,
        report.rejected.len()
    );
    super::audit::record(&state, &caller, "health.import", None, None, Some(detail)).await?;
    Ok(Json(report))
}
