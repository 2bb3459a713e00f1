//! The live co-presence index (流调索引): built from the store's admitted visits of the last
//! [`WINDOW_DAYS`] days (a task warms it at start-up, without holding the server back), and before each
//! trace caught up with every visit committed since (by
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
/// become visible after a later one. Each catch-up reads again this many ids below the highest seen and
/// skips those it has; so no transaction that inserts visits may hold more ids than this (group commit:
/// a few batches of 512 in flight; bulk loads: [`MAX_BULK_VISITS`] a transaction).
const ID_MARGIN: i64 = 16_384;

/// The most visits a bulk load may insert in one transaction (see [`ID_MARGIN`]).
pub const MAX_BULK_VISITS: usize = 10_000;

/// What a trace reads: the index (its `stats()` say how many visits it holds).
#[derive(Clone)]
pub struct Snapshot {
    pub index: Arc<TraceIndex>,
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
        let newest = rows.iter().map(|r| r.id).max().unwrap_or(0).max(self.last_id);
        let floor = newest - ID_MARGIN;
        let mut added = 0;
        // Room for the rows not read before only: a catch-up re-reads the margin, and reserving for those
        // would double a full vector (a 13 M-visit index once spent 1.3 s clearing pages for it).
        self.all.reserve(rows.iter().filter(|r| r.id > self.last_id).count());
        for r in rows {
            // Read in an earlier catch-up: every id that may still be re-read is in `recent`.
            if r.id <= self.last_id && (r.id <= self.last_id - ID_MARGIN || self.recent.contains(&r.id)) {
                continue;
            }
            if let Some(v) = trace_visit(r) {
                self.all.push(v);
                added += 1;
            }
            if r.id > floor {
                self.recent.insert(r.id);
            }
        }
        self.last_id = newest;
        self.recent = self.recent.split_off(&(floor + 1));
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
    let (person, venue) = (u32::try_from(r.person_id).ok()?, u32::try_from(r.venue_id).ok()?);
    Some(TraceVisit::from_millis(person, venue, r.entered_at_ms, r.left_at_ms))
}

impl TraceBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Visits> {
        self.visits.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The index holding every visit committed before this call, caught up and rebuilt first if needed.
    /// The catch-up runs as its own task, so a caller that goes away (a client hanging up) cannot leave it
    /// half done.
    pub async fn snapshot(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, StoreError> {
        let book = self.clone();
        tokio::spawn(async move { book.catch_up(&*store, now).await })
            .await
            .map_err(|e| StoreError::Backend(format!("index task: {e}")))?
    }

    async fn catch_up(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<Snapshot, StoreError> {
        let _one = self.catch_up.lock().await;
        let window_start = now - Duration::days(WINDOW_DAYS);
        let (after, first, known_venues) = {
            let v = self.lock();
            (v.last_id - ID_MARGIN, v.last_id == 0, v.categories.len())
        };
        // Everything that can fail on the store happens before the visits are taken out of the book.
        let started = std::time::Instant::now();
        let rows = match first {
            true => read_window(store, window_start).await?,
            false => store.visits_for_trace(window_start, after.max(0), i64::MAX).await?,
        };
        if first {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                visits = rows.len(),
                seconds = format!("{secs:.2}"),
                per_second = format!("{:.0}", rows.len() as f64 / secs.max(1e-9)),
                "loaded the visits of the trace window"
            );
        }
        let fresh_categories = match rows.iter().any(|r| r.venue_id >= known_venues as i64) {
            // A venue created after start-up.
            true => Some(venue_categories(store).await?),
            false => None,
        };
        let (all, categories, added) = {
            let mut v = self.lock();
            if let Some(c) = fresh_categories {
                v.categories = c;
            }
            let added = v.take(&rows);
            if let (Some(built), 0) = (&v.built, added) {
                return Ok(built.clone());
            }
            (std::mem::take(&mut v.all), std::mem::take(&mut v.categories), added)
        };
        let oldest = window_start.timestamp();
        let built = tokio::task::spawn_blocking(move || {
            let mut all = all;
            all.retain(|x| x.entered >= oldest);
            let persons = all.iter().map(|x| x.person).max().map_or(0, |p| p + 1);
            // A visit naming a venue the store does not know (cannot happen through the API) is left out
            // rather than failing every trace.
            all.retain(|x| (x.venue as usize) < categories.len());
            let built = TraceIndex::build(&all, persons, categories.clone());
            (built, all, categories)
        })
        .await;
        let mut v = self.lock();
        let (built, all, categories) = match built {
            Ok(done) => done,
            Err(e) => {
                // The visits went down with the task: start over, so the next catch-up reads the whole window.
                *v = Visits::default();
                return Err(StoreError::Backend(format!("index task: {e}")));
            }
        };
        v.all = all;
        v.categories = categories;
        let index = built.map_err(|e| StoreError::Backend(format!("trace index: {e}")))?;
        let snapshot = Snapshot { index: Arc::new(index) };
        v.built = Some(snapshot.clone());
        tracing::debug!(visits = v.all.len(), added, "trace index rebuilt");
        Ok(snapshot)
    }
}

/// All the window's visits, read in id ranges at once (one per core).
async fn read_window(store: &dyn Store, since: DateTime<Utc>) -> Result<Vec<TraceVisitRow>, StoreError> {
    let newest = store.max_visit_id().await?;
    let parts = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4) as i64;
    let step = newest / parts + 1;
    // Visits committed after `newest` was read come with the next catch-up.
    let reads = (0..parts).map(|k| store.visits_for_trace(since, k * step, ((k + 1) * step).min(newest)));
    Ok(futures_util::future::try_join_all(reads).await?.concat())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> TraceVisitRow {
        TraceVisitRow { id, person_id: id, venue_id: 1, entered_at_ms: id * 1000, left_at_ms: None }
    }

    #[test]
    fn a_catch_up_takes_late_commits_once() {
        let mut v = Visits::default();
        let first: Vec<_> = (1..=100).filter(|id| *id != 60).map(row).collect();
        assert_eq!(v.take(&first), 99);
        // The next read starts ID_MARGIN below the newest id: it sees 1..=100 again, and 60, committed late.
        let again: Vec<_> = (1..=120).map(row).collect();
        assert_eq!(v.take(&again), 21, "60 and 101..=120");
        assert_eq!(v.take(&again), 0);
        let mut persons: Vec<u32> = v.all.iter().map(|x| x.person).collect();
        persons.sort_unstable();
        assert_eq!(persons, (1..=120).collect::<Vec<u32>>());
        // Far beyond the margin, old ids are forgotten rather than kept forever.
        let far = ID_MARGIN * 3;
        assert_eq!(v.take(&[row(far)]), 1);
        assert_eq!(v.last_id, far);
        assert!(v.recent.iter().all(|id| *id > far - ID_MARGIN));
    }
}
