//! The live co-presence index (流调索引): built from the store's admitted visits of the last
//! [`WINDOW_DAYS`] days at start-up, and before each trace caught up with every visit committed since (by
//! any node, a device's late upload or a bulk load alike) and rebuilt from memory when there were any (a
//! rebuild runs at about 10 M visits a second).
//!
//! Store ids become the index's dense numbers directly: persons and venues are numbered from 1 by both
//! backends, so person 17 is index person 17 and nothing needs a mapping table.

pub mod case;

use chrono::{DateTime, Duration, Utc};
use sentinel_core::VenueCategory;
use sentinel_store::{Store, StoreError, TraceVisitRow};
use sentinel_trace::{TraceIndex, TraceVisit};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Days of visits the index keeps: the longest lookback a rule set may ask for (30 days).
pub const WINDOW_DAYS: i64 = 30;

/// Visit ids are taken when a transaction inserts and seen when it commits, so on PostgreSQL a batch may
/// become visible after a later one. Transactions in flight hold at most a few group-commit batches of 512,
/// so each catch-up reads again this many ids below the highest seen, and skips those it has.
const ID_MARGIN: i64 = 16_384;

/// What a trace reads: an index and how many visits it holds.
#[derive(Clone)]
pub struct Snapshot {
    pub index: Arc<TraceIndex>,
    pub visits: usize,
}

#[derive(Default)]
struct Visits {
    /// Every admitted visit of the window, as the index takes it.
    all: Vec<TraceVisit>,
    /// The highest visit id read, and the ids read within [`ID_MARGIN`] of it.
    last_id: i64,
    recent: BTreeSet<i64>,
    built: Option<Snapshot>,
    categories: Vec<VenueCategory>,
}

impl Visits {
    /// Adds the rows not read before; returns how many were new.
    fn take(&mut self, rows: &[TraceVisitRow]) -> usize {
        let mut added = 0;
        for r in rows {
            if r.id <= self.last_id - ID_MARGIN || self.recent.contains(&r.id) {
                continue;
            }
            if let Some(v) = trace_visit(r) {
                self.all.push(v);
                added += 1;
            }
            self.recent.insert(r.id);
            self.last_id = self.last_id.max(r.id);
        }
        let floor = self.last_id - ID_MARGIN;
        self.recent = self.recent.split_off(&floor);
        added
    }
}

/// The index and the visits it is built from.
#[derive(Default)]
pub struct TraceBook {
    visits: Mutex<Visits>,
    /// One catch-up at a time; traces waiting for it share its result.
    catch_up: tokio::sync::Mutex<()>,
}

fn trace_visit(r: &TraceVisitRow) -> Option<TraceVisit> {
    Some(TraceVisit {
        person: u32::try_from(r.person_id).ok()?,
        venue: u32::try_from(r.venue_id).ok()?,
        entered: r.entered_at_ms.div_euclid(1000),
        left: r.left_at_ms.map(|l| l.div_euclid(1000)),
    })
}

impl TraceBook {
    /// Reads the window's visits from the store; the index is built on first use.
    pub async fn load(store: &dyn Store, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let started = std::time::Instant::now();
        let rows = store.visits_for_trace(now - Duration::days(WINDOW_DAYS), 0).await?;
        let mut visits = Visits { categories: venue_categories(store).await?, ..Default::default() };
        visits.take(&rows);
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            visits = visits.all.len(),
            seconds = format!("{secs:.2}"),
            per_second = format!("{:.0}", visits.all.len() as f64 / secs.max(1e-9)),
            "loaded the visits of the trace window"
        );
        Ok(Self { visits: Mutex::new(visits), ..Default::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Visits> {
        self.visits.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The index holding every visit committed before this call, caught up and rebuilt first if needed.
    pub async fn snapshot(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<Snapshot, StoreError> {
        let _one = self.catch_up.lock().await;
        let window_start = now - Duration::days(WINDOW_DAYS);
        let after = self.lock().last_id - ID_MARGIN;
        let rows = store.visits_for_trace(window_start, after.max(0)).await?;
        let (all, mut categories) = {
            let mut v = self.lock();
            let added = v.take(&rows);
            if let (Some(built), 0) = (&v.built, added) {
                return Ok(built.clone());
            }
            (std::mem::take(&mut v.all), std::mem::take(&mut v.categories))
        };
        if all.iter().any(|x| x.venue as usize >= categories.len()) {
            // A venue created after start-up.
            categories = venue_categories(store).await?;
        }
        let oldest = window_start.timestamp();
        let (built, all, categories) = tokio::task::spawn_blocking(move || {
            let mut all = all;
            all.retain(|x| x.entered >= oldest);
            let persons = all.iter().map(|x| x.person).max().map_or(0, |p| p + 1);
            // A visit naming a venue the store does not know (cannot happen through the API) is left out
            // rather than failing every trace.
            all.retain(|x| (x.venue as usize) < categories.len());
            let built = TraceIndex::build(&all, persons, categories.clone());
            (built, all, categories)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("index task: {e}")))?;
        let mut v = self.lock();
        v.all = all;
        v.categories = categories;
        let index = built.map_err(|e| StoreError::Backend(format!("trace index: {e}")))?;
        let snapshot = Snapshot { visits: v.all.len(), index: Arc::new(index) };
        v.built = Some(snapshot.clone());
        Ok(snapshot)
    }
}

/// Categories by venue id (index 0 unused: ids start at 1).
async fn venue_categories(store: &dyn Store) -> Result<Vec<VenueCategory>, StoreError> {
    let venues = store.venue_categories().await?;
    let len = venues.iter().map(|(id, _)| id.0 + 1).max().unwrap_or(1);
    // Id 0 is never a venue; any category fills it.
    let mut categories = vec![VenueCategory::ALL[0]; usize::try_from(len).unwrap_or(1)];
    for (id, c) in venues {
        if let Ok(i) = usize::try_from(id.0) {
            categories[i] = c;
        }
    }
    Ok(categories)
}
