//! `sentinel import KIND FILE`: the same import as `POST /api/v1/imports/{kind}`, straight into the
//! store, with a progress bar and a report of the rejected rows.

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use sentinel_server::Config;
use sentinel_server::health::import::{Context, ImportKind, import};
use std::io::Write;
use std::path::Path;

pub async fn run(config: &Config, kind: &str, file: &Path, report_path: Option<&Path>) -> anyhow::Result<()> {
    let kind = ImportKind::from_code(kind).with_context(|| {
        format!("未知的导入类型 / unknown import kind {kind:?}: use nat-results, vaccinations or itineraries")
    })?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = sentinel_server::open_store(config).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} 行 rows ({per_sec}, ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("导入 / importing {}", kind.code()));
    let in_scope = |_: &sentinel_core::RegionCode| true;
    let ctx = Context { now: chrono::Utc::now(), tz: config.utc_offset()?, in_scope: &in_scope };
    let started = std::time::Instant::now();
    let report = import(&*store, kind, &bytes, &ctx, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    let rows = report.accepted + report.rejected.len();
    say!(
        "{rows} 行 rows in {seconds:.1} s ({:.0} rows/s), encoding {}: {} accepted ({} new, {} already stored), {} rejected",
        rows as f64 / seconds.max(1e-9),
        report.encoding,
        report.accepted,
        report.inserted,
        report.duplicates,
        report.rejected.len()
    )?;
    for r in report.rejected.iter().take(20) {
        say!("  第{}行 / row {}: {}", r.row, r.row, r.error)?;
    }
    if report.rejected.len() > 20 {
        say!("  … {} more", report.rejected.len() - 20)?;
    }
    if let Some(path) = report_path {
        let mut out =
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        out.write_all("\u{feff}row,error\n".as_bytes())?;
        for r in &report.rejected {
            writeln!(out, "{},\"{}\"", r.row, r.error.replace('"', "\"\""))?;
        }
        say!("rejected rows written to {}", path.display())?;
    }
    Ok(())
}
