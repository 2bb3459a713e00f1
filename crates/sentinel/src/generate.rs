//! `sentinel gen`: a city's worth of visits for tracing. Seeds the demo city (its residents and venues, or
//! reuses the ones this data set holds), gives every resident a daily life (`sentinel_sim::mobility`) and
//! writes the visits of the last `days` days through the store's bulk-load path, one day at a time: a
//! thread generates the next day while the store writes this one.

use chrono::{Duration, NaiveDate, Utc};
use sentinel_server::Config;
use sentinel_sim::mobility::City;
use sentinel_store::{BulkVisit, Store, VenueFilter, all_pages};
use std::time::Instant;

pub struct GenOptions {
    pub persons: usize,
    pub days: u32,
    pub seed: u64,
    /// The last day generated (local); today when absent.
    pub end: Option<NaiveDate>,
}

/// Above this many expected visits the visit indexes are dropped and rebuilt once (see
/// `CaseStore::begin_bulk_load`): inserting into two B-trees on random keys would cost more than one sort.
const REBUILD_INDEXES_ABOVE: usize = 500_000;
/// Visits per insert transaction: no more than a running server's trace index reads again when it catches up.
const CHUNK: usize = sentinel_server::exposure::MAX_BULK_VISITS;
/// Districts of the demo city, over which venues are spread.
const DISTRICTS: usize = sentinel_sim::suzhou::DISTRICTS.len();

/// What this data set holds already: per seed the spans of entry times generated (one `seed from_ms until_ms`
/// line each), so running again (or a demo started on a later day) adds only the visits not written yet.
const GEN_KEY: &str = "gen.spans";

type Span = (u64, i64, i64);

fn spans(meta: Option<String>) -> Vec<Span> {
    let parse = |line: &str| -> Option<Span> {
        let mut parts = line.split_whitespace().map(str::parse::<i64>);
        let (seed, from, until) = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
        Some((u64::try_from(seed).ok()?, from, until))
    };
    meta.unwrap_or_default().lines().filter_map(parse).collect()
}

/// Adds a span, merging only spans of the same seed that overlap or touch it: a gap stays a gap.
fn merged(mut all: Vec<Span>, (seed, mut from, mut until): Span) -> Vec<Span> {
    all.retain(|&(s, f, u)| {
        let joins = s == seed && f <= until && from <= u;
        if joins {
            (from, until) = (from.min(f), until.max(u));
        }
        !joins
    });
    all.push((seed, from, until));
    all.sort_unstable();
    all
}

pub async fn run(config: &Config, opts: &GenOptions) -> anyhow::Result<()> {
    anyhow::ensure!(opts.persons > 0, "--persons must be at least 1");
    anyhow::ensure!((1..=60).contains(&opts.days), "--days must be 1–60");
    let today = Utc::now().with_timezone(&config.utc_offset()?).date_naive();
    if let Some(end) = opts.end {
        anyhow::ensure!(end <= today, "--end {end} lies in the future (today is {today})");
    }
    let store = sentinel_server::open_store(config).await?;
    // About five residents a venue, as in a real city's register of places (and never fewer than the demo's).
    let venues_per_district = (opts.persons / 5 / DISTRICTS).max(32);
    let login = crate::demo::seed(&*store, config, opts.seed, opts.persons, venues_per_district).await?;
    let summary = write_visits(&*store, config, opts).await?;
    say!("{summary}")?;
    say!("  登录 / login: {login}")?;
    say!("  启动 / start: sentinel serve (same data directory); the trace index loads these visits")?;
    Ok(())
}

/// Generates and writes the visits of the seeded city's residents; returns a one-line summary.
pub async fn write_visits(store: &dyn Store, config: &Config, opts: &GenOptions) -> anyhow::Result<String> {
    let tz = config.utc_offset()?;
    let now = Utc::now();
    let today = now.with_timezone(&tz).date_naive();
    let end = opts.end.unwrap_or(today);
    anyhow::ensure!(end <= today, "--end {end} lies in the future (today is {today})");
    let local_midnight = move |date: NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).single())
            .map(|t| t.to_utc())
            .unwrap_or(now)
    };
    let first = end - Duration::days(i64::from(opts.days) - 1);
    let from_ms = local_midnight(first).timestamp_millis();
    let until_ms = local_midnight(end + Duration::days(1)).timestamp_millis().min(now.timestamp_millis());
    let all_spans = spans(store.get_meta(GEN_KEY).await?);
    let done: Vec<(i64, i64)> =
        all_spans.iter().filter(|(seed, _, _)| *seed == opts.seed).map(|&(_, f, u)| (f, u)).collect();
    if done.iter().any(|&(f, u)| f <= from_ms && until_ms <= u) {
        return Ok(format!(
            "已生成过 / already generated: {} days ending {end} (seed {})",
            opts.days, opts.seed
        ));
    }

    let started = Instant::now();
    let homes = store.person_homes().await?;
    let venues = all_venues(store).await?;
    let city = City::new(&homes, &venues, opts.seed);
    note!(
        "居民 / residents {}, 场所 / venues {}: 生成 {} 天到访 / generating {} days of visits ending {end}",
        city.residents(),
        venues.len(),
        opts.days,
        opts.days
    );
    let expected = city.residents() * opts.days as usize * 7 / 10;
    let rebuild = expected > REBUILD_INDEXES_ABOVE;
    if rebuild {
        store.begin_bulk_load().await?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<BulkVisit>>(1);
    let days = opts.days;
    let written_before = done;
    let generator = std::thread::spawn(move || {
        for i in 0..days {
            let date = first + Duration::days(i64::from(i));
            let mut visits = city.day(date, local_midnight(date));
            // Nobody has scanned later today yet; what an earlier run wrote is there already.
            visits.retain(|v| {
                v.entered_at_ms <= until_ms
                    && !written_before.iter().any(|&(f, u)| (f..=u).contains(&v.entered_at_ms))
            });
            if tx.blocking_send(visits).is_err() {
                return;
            }
        }
    });
    let (mut written, mut day) = (0usize, 0u32);
    while let Some(visits) = rx.recv().await {
        day += 1;
        for chunk in visits.chunks(CHUNK) {
            written += store.bulk_insert_visits(chunk).await?;
            let rate = written as f64 / started.elapsed().as_secs_f64().max(1e-9);
            progress!("\r  到访 / visits: day {day}/{days}, {written} ({rate:.0}/s)   ");
        }
    }
    note!("");
    generator.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    let inserted = started.elapsed().as_secs_f64();
    if rebuild {
        note!("  重建索引 / rebuilding the visit indexes…");
        store.end_bulk_load().await?;
    }
    let total = started.elapsed().as_secs_f64();
    let lines: Vec<String> = merged(all_spans, (opts.seed, from_ms, until_ms))
        .iter()
        .map(|(s, f, u)| format!("{s} {f} {u}"))
        .collect();
    store.set_meta(GEN_KEY, &lines.join("\n")).await?;
    Ok(format!(
        "生成到访 / generated {written} visits over {days} days ending {end} in {total:.1} s: {:.0} visits/s \
         ({:.0}/s inserting{})",
        written as f64 / total.max(1e-9),
        written as f64 / inserted.max(1e-9),
        if rebuild { ", then one index rebuild" } else { "" }
    ))
}

async fn all_venues(
    store: &dyn Store,
) -> anyhow::Result<Vec<(sentinel_core::VenueId, sentinel_core::VenueCategory, sentinel_core::RegionCode)>> {
    let filter = VenueFilter::default();
    let venues = all_pages(|page| store.list_venues(&filter, page)).await?;
    Ok(venues.into_iter().map(|v| (v.id, v.category, v.region_code)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_only_when_they_meet() {
        let one = merged(Vec::new(), (1, 100, 200));
        let apart = merged(one.clone(), (1, 300, 400));
        assert_eq!(apart, [(1, 100, 200), (1, 300, 400)], "a gap stays a gap");
        assert_eq!(merged(apart.clone(), (1, 150, 350)), [(1, 100, 400)]);
        assert_eq!(merged(one, (2, 150, 250)), [(1, 100, 200), (2, 150, 250)], "seeds apart");
        let text = "1 100 200\n2 5 6\nbroken line";
        assert_eq!(spans(Some(text.into())), [(1, 100, 200), (2, 5, 6)]);
    }
}
