//! `sentinel trace`: the trace of `POST /api/v1/cases/{id}/trace` from the command line, straight on the
//! store: one case by flags, or a batch from a CSV file of cases traced together (de-duplicated, tier
//! priority close > secondary > companion). Read-only: it opens no case and assigns no code.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sentinel_core::{PersonId, ResidentIdNumber};
use sentinel_server::Config;
use sentinel_server::exposure::{TraceBook, case::trace_cases};
use sentinel_server::health::import::parse_time;
use sentinel_store::Store;
use sentinel_trace::{Case, RuleSet};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct TraceOptions {
    pub rule_set: String,
    pub person: Option<String>,
    pub onset_at: Option<String>,
    pub sampled_at: Option<String>,
    pub cases: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// A person by store id or resident ID number.
async fn person(store: &dyn Store, raw: &str, today: chrono::NaiveDate) -> anyhow::Result<PersonId> {
    // A store id is short; an 18-digit ID number without an X would parse as a number too.
    if raw.len() < 15 {
        let id: i64 = raw.parse().with_context(|| format!("{raw}: not a person id or ID number"))?;
        store.get_person(PersonId(id)).await.with_context(|| format!("人员不存在 / no person {id}"))?;
        return Ok(PersonId(id));
    }
    let number = ResidentIdNumber::parse(raw, today).map_err(|e| anyhow::anyhow!("{raw}: {e}"))?;
    let (id, _) =
        store.locate_person(&number).await?.with_context(|| format!("人员未登记 / no person {raw}"))?;
    Ok(id)
}

/// The engine's case: the lookback counts back from `at` (onset or sampling alike); isolated now.
fn case(person: PersonId, at: DateTime<Utc>, now: DateTime<Utc>) -> anyhow::Result<Case> {
    let person = u32::try_from(person.0).with_context(|| format!("person id {} out of range", person.0))?;
    Ok(Case { person, onset: at.timestamp(), isolated_at: now.timestamp() })
}

/// Cases from a CSV with a header: `person` (id or ID number) and `onset_at` or `sampled_at`.
async fn cases_file(
    store: &dyn Store,
    path: &Path,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Case>> {
    let tz = config.utc_offset()?;
    let today = now.with_timezone(&tz).date_naive();
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader.headers()?.clone();
    let column = |name: &str| header.iter().position(|h| h.trim_start_matches('\u{feff}').trim() == name);
    let person_col = column("person").context("the cases file needs a `person` column (id or ID number)")?;
    let (onset, sampled) = (column("onset_at"), column("sampled_at"));
    anyhow::ensure!(onset.is_some() || sampled.is_some(), "the cases file needs `onset_at` or `sampled_at`");
    let mut cases = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record?;
        let row = line + 2;
        let field = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty());
        let raw = match (field(onset), field(sampled)) {
            (Some(t), None) | (None, Some(t)) => t,
            _ => anyhow::bail!("row {row}: give exactly one of onset_at and sampled_at"),
        };
        let at = parse_time(raw, tz).map_err(|e| anyhow::anyhow!("row {row}: {e}"))?;
        let who = field(Some(person_col)).with_context(|| format!("row {row}: person is empty"))?;
        let id = person(store, who, today).await.with_context(|| format!("row {row}"))?;
        cases.push(case(id, at, now)?);
    }
    Ok(cases)
}

pub async fn run(config: &Config, opts: &TraceOptions) -> anyhow::Result<()> {
    let rules = RuleSet::preset(&opts.rule_set).with_context(|| {
        let known: Vec<String> = RuleSet::presets().into_iter().map(|r| r.name).collect();
        format!("未知规则集 / unknown rule set {:?}; known: {}", opts.rule_set, known.join(", "))
    })?;
    let store = sentinel_server::open_store(config).await?;
    let now = Utc::now();
    let tz = config.utc_offset()?;
    let cases = match (&opts.cases, &opts.person) {
        (Some(path), None) => cases_file(&*store, path, config, now).await?,
        (None, Some(who)) => {
            let raw = match (&opts.onset_at, &opts.sampled_at) {
                (Some(t), None) | (None, Some(t)) => t,
                _ => anyhow::bail!("give exactly one of --onset-at and --sampled-at"),
            };
            let at = parse_time(raw, tz).map_err(|e| anyhow::anyhow!("{e}"))?;
            let id = person(&*store, who, now.with_timezone(&tz).date_naive()).await?;
            vec![case(id, at, now)?]
        }
        _ => anyhow::bail!("give either --person with --onset-at/--sampled-at, or --cases FILE"),
    };
    let started = std::time::Instant::now();
    let snapshot = std::sync::Arc::new(TraceBook::default()).snapshot(store.clone(), now).await?;
    let loaded = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let contacts = trace_cases(&snapshot, &rules, &cases, now, tz.local_minus_utc());
    let traced = started.elapsed().as_secs_f64();
    let count = |tier: &str| contacts.iter().filter(|c| c.tier == tier).count();
    note!(
        "{} cases, {} visits indexed in {loaded:.2} s, traced in {:.1} ms under {} v{}",
        cases.len(),
        snapshot.index.stats().visits,
        traced * 1000.0,
        rules.name,
        rules.version
    );
    say!(
        "密接 close {}, 次密接 secondary {}, 时空伴随 companion {}",
        count("close"),
        count("secondary"),
        count("companion")
    )?;
    let mut out: Box<dyn Write> = match &opts.out {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?)
        }
        None => Box::new(std::io::sink()),
    };
    writeln!(out, "person_id,tier,venue_id,via,from,to,overlap_minutes,exposures")?;
    for c in &contacts {
        writeln!(
            out,
            "{},{},{},{},{},{},{:.1},{}",
            c.person_id.0,
            c.tier,
            c.venue_id.0,
            c.via.0,
            c.from.with_timezone(&tz).to_rfc3339(),
            c.to.with_timezone(&tz).to_rfc3339(),
            c.overlap_secs as f64 / 60.0,
            c.exposures
        )?;
    }
    if let Some(path) = &opts.out {
        say!("  名单 / contacts: {}", path.display())?;
    }
    Ok(())
}
