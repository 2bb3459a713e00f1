//! `sentinel-bench trace`: the co-presence index against an indexed SQL range join on the same synthetic city
//! (Zipf-like venue popularity), the same sampled cases, the same rule set (China 2022: 4 days back, 2 hops,
//! companions); every compared case must give identical close, secondary and companion sets.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{Connection, params};
use sentinel_sim::load::percentile;
use sentinel_sim::zipf_city::{VisitCity, ZipfCityOptions};
use sentinel_trace::{Case, LayeredIndex, RuleSet, Tier, TraceIndex, TraceResult, Tracer};

use crate::report::{Figure, print};

#[derive(clap::Args)]
pub struct TraceOptions {
    /// One JSON line per figure.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub persons: u32,
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub venues: u32,
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub days: u32,
    /// Cases traced by both the index and SQL, answers compared.
    #[arg(long, default_value_t = 20)]
    pub compared: usize,
    /// Cases traced by the index alone (p50, slowest).
    #[arg(long, default_value_t = 100)]
    pub sampled: usize,
    /// Cases traced together in one batch.
    #[arg(long, default_value_t = 2_000)]
    pub batch: usize,
    /// Runs of each compared case on each side (the best counts).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How the city is made: `zipf` (popularity alone) or `mobility` (homes, workplaces, daily routines over
    /// the demo city's districts: the model of `sentinel gen`).
    #[arg(long, default_value = "zipf", value_parser = ["zipf", "mobility"])]
    pub model: String,
    /// Index side only (a city too large to load into SQLite on this machine).
    #[arg(long)]
    pub no_sql: bool,
    /// Keep the SQLite database in this (new) file, to run the printed SQL by hand.
    #[arg(long)]
    pub sqlite_file: Option<std::path::PathBuf>,
    /// Visits (the latest entered) that arrive after the index was built, for the live-update figure.
    #[arg(long, default_value_t = 10_000)]
    pub live: usize,
    /// Secondary exposures foreseen from which the second hop takes a second thread (default: the tracer's).
    #[arg(long)]
    pub parallel_from: Option<usize>,
}

/// Beijing time: the companion rule's local day.
const UTC_OFFSET: i32 = 8 * 3600;

/// The SQL the anchor runs for one case: a bounded range join on (venue, entered) and (person, entered),
/// its steps materialized and its joins ordered (CROSS JOIN) so SQLite cannot turn them into a scan of every
/// visit,
/// the same rule (overlap per category, the case's stay plus a buffer, secondary contacts from the close
/// contact's first exposure) and the stays resolved once at load time.
pub const TRACE_SQL: &str = "
WITH src AS MATERIALIZED (
    SELECT venue, entered, max(entered, ?2) AS s, ends + ?5 AS e
    FROM visits WHERE person = ?1 AND entered < ?3 AND ends > ?2),
close_pairs AS (
    SELECT v.person, max(v.entered, src.s) AS start
    FROM src CROSS JOIN venues m ON m.venue = src.venue
    CROSS JOIN visits v ON v.venue = src.venue AND v.entered >= src.s - m.max_stay AND v.entered < src.e
    WHERE v.person <> ?1 AND min(v.ends, src.e) - max(v.entered, src.s) >= m.min_overlap),
close AS MATERIALIZED (SELECT person, min(start) AS first FROM close_pairs GROUP BY person),
src2 AS MATERIALIZED (
    SELECT v.venue, max(v.entered, c.first) AS s, v.ends + ?5 AS e
    FROM close c CROSS JOIN visits v ON v.person = c.person AND v.entered < ?4 AND v.ends > c.first),
secondary AS MATERIALIZED (
    SELECT DISTINCT v.person
    FROM src2 CROSS JOIN venues m ON m.venue = src2.venue
    CROSS JOIN visits v ON v.venue = src2.venue AND v.entered >= src2.s - m.max_stay AND v.entered < src2.e
    WHERE min(v.ends, src2.e) - max(v.entered, src2.s) >= m.min_overlap
      AND v.person <> ?1 AND v.person NOT IN (SELECT person FROM close)),
companion AS (
    SELECT DISTINCT v.person
    FROM src CROSS JOIN visits v ON v.venue = src.venue
     AND v.entered >= ((src.entered + ?6) / 86400) * 86400 - ?6
     AND v.entered < ((src.entered + ?6) / 86400) * 86400 - ?6 + 86400
    WHERE v.person <> ?1)
SELECT 'close', person FROM close
UNION ALL SELECT 'secondary', person FROM secondary
UNION ALL SELECT 'companion', person FROM companion
    WHERE person NOT IN (SELECT person FROM close) AND person NOT IN (SELECT person FROM secondary)";

pub type Tiers = [BTreeSet<u32>; 3];

/// Where a tier the SQL names goes in [`Tiers`].
pub fn slot(tier: &str) -> usize {
    match tier {
        "close" => 0,
        "secondary" => 1,
        _ => 2,
    }
}

/// The persons of each tier, in [`Tier::ALL`]'s order (that of [`slot`]).
fn tiers(r: &TraceResult) -> Tiers {
    Tier::ALL.map(|tier| r.tier(tier).iter().map(|c| c.person).collect())
}

/// Per venue, the seconds together that make a contact (at least one: touching is not overlapping).
pub fn min_overlaps(city: &VisitCity, rules: &RuleSet) -> Vec<i64> {
    city.categories.iter().map(|c| (i64::from(rules.min_overlap_minutes(*c)) * 60).max(1)).collect()
}

/// The statement that resolves every stay once at load, in a dialect whose two-argument maximum and minimum
/// are `greatest` and `least`: a check-out rounded up to the minute, else the default stay cut at the
/// person's next entry.
pub fn resolve_stays_sql(greatest: &str, least: &str) -> String {
    format!(
        "SELECT person, venue, entered,
                CASE WHEN left_at IS NOT NULL THEN entered + (({greatest}(left_at - entered, 0) + 59) / 60) * 60
                     ELSE entered + {least}(default_stay, coalesce(
                          (lead(entered) OVER (PARTITION BY person ORDER BY entered, venue, id) - entered) / 60,
                          default_stay)) * 60
                END AS ends
         FROM raw"
    )
}

/// Loads the city into a fresh SQLite file: raw visits, stays resolved with a window function (the next
/// check-in of the same person), the two indexes, and per venue its longest stay and minimum overlap.
fn load_sqlite(path: &std::path::Path, city: &VisitCity, rules: &RuleSet) -> anyhow::Result<Connection> {
    let mut c = Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;
         PRAGMA temp_store = MEMORY;
         CREATE TABLE raw (id INTEGER PRIMARY KEY, person INTEGER, venue INTEGER, entered INTEGER,
                           left_at INTEGER, default_stay INTEGER);",
    )?;
    let tx = c.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO raw VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for (i, v) in city.visits.iter().enumerate() {
            let stay = rules.default_stay_minutes(city.categories[v.venue as usize]);
            insert.execute(params![i as i64, v.person, v.venue, v.entered, v.left, stay])?;
        }
    }
    tx.commit()?;
    c.execute_batch(&format!(
        "CREATE TABLE visits AS {stays};
         DROP TABLE raw;
         CREATE INDEX visits_venue ON visits (venue, entered);
         CREATE INDEX visits_person ON visits (person, entered);
         CREATE TABLE venues (venue INTEGER PRIMARY KEY, max_stay INTEGER, min_overlap INTEGER);
         ANALYZE;",
        stays = resolve_stays_sql("max", "min")
    ))?;
    let mut insert = c.prepare("INSERT INTO venues VALUES (?1, ?2, ?3)")?;
    let mut longest = vec![0i64; city.categories.len()];
    let mut stays = c.prepare("SELECT venue, max(ends - entered) FROM visits GROUP BY venue")?;
    for row in stays.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (venue, stay) = row?;
        longest[venue as usize] = stay;
    }
    for (venue, overlap) in min_overlaps(city, rules).into_iter().enumerate() {
        insert.execute(params![venue as i64, longest[venue], overlap])?;
    }
    drop((insert, stays));
    Ok(c)
}

/// The SQL's parameters for a case traced at `now` (when close contacts are isolated).
pub fn sql_params(case: &Case, now: i64, rules: &RuleSet) -> [i64; 6] {
    let from = case.onset - i64::from(rules.lookback_days) * 86_400;
    let buffer = i64::from(rules.buffer_after_minutes) * 60;
    [i64::from(case.person), from, case.isolated_at, now, buffer, i64::from(UTC_OFFSET)]
}

/// SQLite's plan for the SQL, one step a line, to show it searches the two indexes.
fn sql_plan(c: &Connection, case: &Case, now: i64, rules: &RuleSet) -> anyhow::Result<String> {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {TRACE_SQL}"))?;
    let rows =
        stmt.query_map(rusqlite::params_from_iter(sql_params(case, now, rules)), |r| r.get::<_, String>(3))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n  "))
}

fn sql_trace(c: &Connection, case: &Case, now: i64, rules: &RuleSet) -> anyhow::Result<Tiers> {
    let mut stmt = c.prepare_cached(TRACE_SQL)?;
    let mut found: Tiers = Default::default();
    let rows = stmt.query_map(rusqlite::params_from_iter(sql_params(case, now, rules)), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
    })?;
    for row in rows {
        let (tier, person) = row?;
        found[slot(&tier)].insert(person);
    }
    Ok(found)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(o: TraceOptions) -> anyhow::Result<()> {
    let rules = RuleSet::china_2022();
    anyhow::ensure!(o.live >= 1, "--live must be at least 1");
    let options = ZipfCityOptions {
        persons: o.persons,
        venues: o.venues,
        days: o.days,
        seed: o.seed,
        ..Default::default()
    };
    let t = Instant::now();
    let mut city = match o.model.as_str() {
        "mobility" => sentinel_sim::mobility::visit_city(o.persons, o.venues, o.days, options.start, o.seed),
        _ => VisitCity::zipf(options),
    };
    let visits = city.visits.len();
    note!(
        "city ({}): {} persons, {} venues, {} days, {visits} visits (generated in {:.1} s)",
        o.model,
        o.persons,
        city.categories.len(),
        o.days,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let index = TraceIndex::build(&city.visits, o.persons, city.categories.clone())?;
    let build_secs = t.elapsed().as_secs_f64();
    let stats = index.stats();
    note!(
        "index: built in {build_secs:.2} s, {:.1} bytes a visit ({:.1} with offsets)",
        stats.visit_bytes as f64 / visits as f64,
        stats.total_bytes as f64 / visits as f64
    );
    let now = city.end;
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x7ace);
    let mut sample = |n: usize| -> Vec<Case> {
        (0..n).map(|_| Case { person: rng.gen_range(0..o.persons), onset: now, isolated_at: now }).collect()
    };
    let compared = sample(o.compared);
    let sampled = sample(o.sampled);
    let batch = sample(o.batch);

    let mut tracer = Tracer::new(&index);
    if let Some(exposures) = o.parallel_from {
        tracer = tracer.with_parallel_threshold(exposures);
    }
    note!(
        "tracer: {:.1} MB of per-person state ({} bytes a person; twice with the second-hop helper)",
        tracer.state_bytes() as f64 / 1e6,
        tracer.state_bytes() / o.persons.max(1) as usize
    );
    let mut figures = Vec::new();
    let mut engine_compared = Vec::new();
    let mut engine_first = Vec::new();
    let mut sql_compared = Vec::new();
    let mut sql_load_rate = f64::NAN;
    let mut sql_bytes = f64::NAN;
    let mut pg_compared = Vec::new();
    // PostgreSQL in a scratch database, when a server is named; its answers must match too.
    let pg = match std::env::var("SENTINEL_BENCH_POSTGRES_URL") {
        Ok(url) if !o.no_sql => {
            let t = Instant::now();
            let pg =
                crate::trace_postgres::PgAnchor::load(&url, &city, &rules).context("loading PostgreSQL")?;
            note!(
                "PostgreSQL: loaded (COPY) and indexed in {:.1} s, {:.1} bytes a visit; the SQL of one case:{}\n",
                t.elapsed().as_secs_f64(),
                pg.bytes_a_visit,
                crate::trace_postgres::TRACE_SQL_PG
            );
            if let Some(case) = compared.first() {
                note!("PostgreSQL's plan:\n  {}\n", pg.plan(case, now, &rules)?);
            }
            Some(pg)
        }
        _ => {
            note!(
                "PostgreSQL not measured: set SENTINEL_BENCH_POSTGRES_URL (a server where the bench may create a scratch database)"
            );
            None
        }
    };
    if !o.no_sql {
        let dir = tempfile::tempdir()?;
        let path = o.sqlite_file.clone().unwrap_or_else(|| dir.path().join("visits.db"));
        if path.exists() {
            bail!("{} exists: the benchmark loads a fresh database", path.display());
        }
        let t = Instant::now();
        let db = load_sqlite(&path, &city, &rules).context("loading SQLite")?;
        let load_secs = t.elapsed().as_secs_f64();
        sql_load_rate = visits as f64 / load_secs;
        sql_bytes = std::fs::metadata(&path)?.len() as f64 / visits as f64;
        // The load left the file's pages dirty (no journal, no sync): written back now, not by the kernel's
        // flusher on the other core half a minute into the timed runs of both sides.
        std::fs::File::open(&path)?.sync_all().context("flushing the loaded SQLite file")?;
        note!("SQLite: loaded and indexed in {load_secs:.1} s; the SQL of one case:{TRACE_SQL}\n");
        if let Some(case) = compared.first() {
            note!("SQLite's plan:\n  {}\n", sql_plan(&db, case, now, &rules)?);
        }
        for (k, case) in compared.iter().enumerate() {
            // Each side runs the case `repeat` times in a row and counts its best: both warm with their own
            // data. Our first run comes right after the SQL side's runs of the case before (caches it filled;
            // the first case's, after the query plan): kept apart, for the record.
            let mut ours = TraceResult::default();
            let mut theirs = Tiers::default();
            let (mut best_ours, mut best_theirs) = (f64::INFINITY, f64::INFINITY);
            for run in 0..o.repeat.max(1) {
                let t = Instant::now();
                let result = tracer.trace(&rules, std::slice::from_ref(case), now, UTC_OFFSET);
                let took = ms(t);
                // The last run's result is freed here, not inside the next run's time.
                ours = result;
                best_ours = best_ours.min(took);
                if run == 0 {
                    engine_first.push(took);
                }
            }
            for _ in 0..o.repeat.max(1) {
                let t = Instant::now();
                let found = sql_trace(&db, case, now, &rules)?;
                best_theirs = best_theirs.min(ms(t));
                theirs = found;
            }
            engine_compared.push(best_ours);
            sql_compared.push(best_theirs);
            let mine = tiers(&ours);
            if let Some(pg) = &pg {
                let mut best = f64::INFINITY;
                for _ in 0..o.repeat.max(1) {
                    let t = Instant::now();
                    let found = pg.trace(case, now, &rules)?;
                    best = best.min(ms(t));
                    if found != mine {
                        bail!(
                            "case {k} (person {}): PostgreSQL's answer differs from the index's",
                            case.person
                        );
                    }
                }
                pg_compared.push(best);
            }
            if mine != theirs {
                bail!(
                    "case {k} (person {}): the index found {}/{}/{} close/secondary/companion, SQL {}/{}/{}",
                    case.person,
                    mine[0].len(),
                    mine[1].len(),
                    mine[2].len(),
                    theirs[0].len(),
                    theirs[1].len(),
                    theirs[2].len()
                );
            }
            let postgres =
                pg_compared.get(k).map(|t| format!(" | PostgreSQL {t:>10.1} ms")).unwrap_or_default();
            note!(
                "case {k:>3}: {:>6} close {:>7} secondary {:>6} companions | index {:>9.3} ms (first run {:>9.3}) | SQLite {:>10.1} ms{postgres}",
                mine[0].len(),
                mine[1].len(),
                mine[2].len(),
                engine_compared[k],
                engine_first[k],
                sql_compared[k],
            );
        }
    }
    if let Some(pg) = pg {
        pg.finish()?;
    }
    let sort = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
    sort(&mut engine_compared);
    sort(&mut engine_first);
    sort(&mut sql_compared);
    sort(&mut pg_compared);
    let anchors = [
        ("SQLite indexed range join p50", "SQLite slowest of the same cases", &sql_compared),
        ("PostgreSQL indexed range join p50", "PostgreSQL slowest of the same cases", &pg_compared),
    ];
    for (p50, slowest, theirs) in anchors.into_iter().filter(|(_, _, t)| !t.is_empty()) {
        for (figure, anchor, at) in
            [("trace p50, same cases", p50, 0.5), ("trace slowest, same cases", slowest, 1.0)]
        {
            figures.push(Figure {
                figure,
                value: percentile(&engine_compared, at),
                unit: "ms",
                anchor,
                anchor_value: percentile(theirs, at),
                budget: "≤ 0.02: ≥ 50× faster",
            });
        }
    }
    if !engine_first.is_empty() {
        figures.push(Figure {
            figure: "trace p50, same cases, first run (after the SQL side's runs)",
            value: percentile(&engine_first, 0.5),
            unit: "ms",
            anchor: "SQLite indexed range join p50",
            anchor_value: percentile(&sql_compared, 0.5),
            budget: "for the record",
        });
    }

    let mut engine_sampled = Vec::with_capacity(sampled.len());
    let mut heaviest = (0, 0);
    for case in &sampled {
        let t = Instant::now();
        let r = tracer.trace(&rules, std::slice::from_ref(case), now, UTC_OFFSET);
        engine_sampled.push(ms(t));
        heaviest = heaviest.max((r.secondary.len(), r.close.len()));
    }
    sort(&mut engine_sampled);
    note!("{} sampled cases: heaviest {} close, {} secondary", sampled.len(), heaviest.1, heaviest.0);
    let sql_p50 = percentile(&sql_compared, 0.5);
    figures.push(Figure {
        figure: "trace p50, sampled cases",
        value: percentile(&engine_sampled, 0.5),
        unit: "ms",
        anchor: "SQLite p50 (compared cases)",
        anchor_value: sql_p50,
        budget: "≤ 1 ms at 10^8 visits",
    });
    figures.push(Figure {
        figure: "trace slowest, sampled cases",
        value: percentile(&engine_sampled, 1.0),
        unit: "ms",
        anchor: "SQLite slowest (compared cases)",
        anchor_value: percentile(&sql_compared, 1.0),
        budget: "≤ 2 000 ms at 10^8 visits",
    });
    let t = Instant::now();
    let r = tracer.trace(&rules, &batch, now, UTC_OFFSET);
    let batch_secs = t.elapsed().as_secs_f64();
    note!(
        "batch of {} cases: {} close, {} secondary, {} companions",
        batch.len(),
        r.close.len(),
        r.secondary.len(),
        r.companions.len()
    );
    // Not the same work (a batch shares what its cases have in common), so the anchor says what it is.
    let sql_mean = sql_compared.iter().sum::<f64>() / sql_compared.len() as f64;
    figures.push(Figure {
        figure: "batch of cases",
        value: batch_secs,
        unit: "s",
        anchor: "SQLite mean per case × N (extrapolated)",
        anchor_value: sql_mean * batch.len() as f64 / 1000.0,
        budget: "20 000 cases ≤ 300 s",
    });
    figures.push(Figure {
        figure: "index bytes a visit, all arrays",
        value: stats.total_bytes as f64 / visits as f64,
        unit: "B",
        anchor: "SQLite file bytes a visit",
        anchor_value: sql_bytes,
        budget: "≤ 16 B",
    });
    figures.push(Figure {
        figure: "index rebuild",
        value: visits as f64 / build_secs,
        unit: "v/s",
        anchor: "SQLite load with both indexes",
        anchor_value: sql_load_rate,
        budget: "≥ 2 000 000 visits/s",
    });
    let (live_ms, live) = live_update(&mut city.visits, o.live, &index, &compared, &rules, now)?;
    figures.push(Figure {
        figure: "live update: new visits indexed beside the big index",
        value: live_ms,
        unit: "ms",
        anchor: "rebuilding the whole index",
        anchor_value: build_secs * 1000.0,
        budget: "for the record",
    });
    note!(
        "live update: {live} new visits (the latest entered) and their persons' earlier ones indexed in {live_ms:.1} ms beside the big index (a whole rebuild: {:.0} ms); the compared cases trace the same on both",
        build_secs * 1000.0
    );
    print(&figures, o.json)?;
    Ok(())
}

/// The `live` latest-entered visits arrive after the big index was built over the others: the time to index
/// them beside it (`LayeredIndex`, what the server does at each trace's catch-up). The compared cases must
/// trace the same on the pair as on the index of everything. Reorders `visits` by entry time.
fn live_update(
    visits: &mut [sentinel_trace::TraceVisit],
    live: usize,
    index: &TraceIndex,
    cases: &[Case],
    rules: &RuleSet,
    now: i64,
) -> anyhow::Result<(f64, usize)> {
    let live = live.min(visits.len());
    let cut = visits.len() - live;
    if cut > 0 {
        visits.select_nth_unstable_by_key(cut, |v| v.entered);
    }
    let (earlier, latest) = visits.split_at(cut);
    let stats = index.stats();
    let categories = index.venue_categories().to_vec();
    let main = std::sync::Arc::new(TraceIndex::build(earlier, stats.persons as u32, categories.clone())?);
    let t = Instant::now();
    let layered = LayeredIndex::new(main, latest, categories)?;
    let took = ms(t);
    anyhow::ensure!(layered.stats().visits == stats.visits, "the pair holds every visit once");
    let (mut one, mut two) = (Tracer::new(index), Tracer::new(&layered));
    for case in cases {
        let case = std::slice::from_ref(case);
        if one.trace(rules, case, now, UTC_OFFSET).without_positions()
            != two.trace(rules, case, now, UTC_OFFSET).without_positions()
        {
            bail!("person {}: the index with new visits beside it traces differently", case[0].person);
        }
    }
    Ok((took, live))
}
