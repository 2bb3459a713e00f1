//! The live co-presence index (流调索引): built from the store's admitted visits of the last
//! [`WINDOW_DAYS`] days (a task warms it at start-up, without holding the server back), and before each
//! trace caught up with every visit committed since (by any node, a device's late upload or a bulk load
//! alike). New visits go into a small index searched beside the big one (`LayeredIndex`: the work is
//! proportional to the new visits and their persons' earlier ones, about 24 ms for 10 000 new visits beside 12 M);
//! once the small one passes an eighth of the big one, a fold rebuilds the big one from itself and the new
//! visits in the background while traces go on with the pair, and swaps it in (a rebuild comes once per
//! eighth of the window's visits and holds no trace up: seconds at a city's size).
//!
//! Store ids become the index's dense numbers directly: persons and venues are numbered from 1 by both
//! backends, so person 17 is index person 17 and nothing needs a mapping table.

pub mod case;

use chrono::{DateTime, Duration, Utc};
use sentinel_core::VenueCategory;
use sentinel_store::{Store, StoreError, TraceVisitRow};
use sentinel_trace::{LayeredIndex, TraceIndex, TraceVisit};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Days of visits the index keeps: the longest lookback a rule set may ask for (30 days).
pub const WINDOW_DAYS: i64 = 30;

/// Visit ids are taken when a transaction inserts and seen when it commits, so on PostgreSQL a batch may
/// become visible after a later one. Each catch-up reads again this many ids below the highest seen and
/// skips those it has; so no transaction that inserts visits may hold more ids than this (group commit:
/// a few batches of 512 in flight; bulk loads: [`MAX_BULK_VISITS`] a transaction).
const ID_MARGIN: i64 = 16_384;

/// The most visits a bulk load inserts in one transaction (the store splits larger loads): below [`ID_MARGIN`].
pub use sentinel_store::MAX_BULK_VISITS;
const _: () = assert!((MAX_BULK_VISITS as i64) < ID_MARGIN);

/// How often a catch-up reads the venues' categories again when nothing says they changed: edits through
/// another node reach this one's index at most this late (edits through this one, at the next trace).
const CATEGORIES_RECHECK_MINUTES: i64 = 10;

/// What a trace reads: the big index and the small one beside it (their `stats()` say how many visits
/// they hold).
#[derive(Clone)]
pub struct Snapshot {
    pub index: Arc<LayeredIndex>,
}

#[derive(Default)]
struct Visits {
    /// Visits read since the big index was built (before the first build: all of them).
    pending: Vec<TraceVisit>,
    /// The highest visit id read, and the ids read within [`ID_MARGIN`] of it.
    last_id: i64,
    recent: BTreeSet<i64>,
    /// The big index, built from the window's visits at its last rebuild.
    main: Option<Arc<TraceIndex>>,
    built: Option<Snapshot>,
    categories: Vec<VenueCategory>,
    /// When `categories` were read (None: never).
    categories_read: Option<DateTime<Utc>>,
    /// A venue was edited through this node since `categories` were read: the next catch-up reads them.
    venues_edited: bool,
    /// A known venue's category changed since the big index was built: the next catch-up folds.
    categories_changed: bool,
    /// A fold is under way (one at a time).
    folding: bool,
}

/// What an index build in a blocking task came to: the index, or why not.
fn settle(
    built: Result<Result<LayeredIndex, sentinel_trace::IndexError>, tokio::task::JoinError>,
) -> Result<LayeredIndex, String> {
    built
        .map_err(|e| format!("index task: {e}"))
        .and_then(|index| index.map_err(|e| format!("trace index: {e}")))
}

impl Visits {
    /// Visits in the small index traces read now (none after a fold, until the next catch-up).
    fn delta_visits(&self) -> usize {
        self.built.as_ref().map_or(0, |b| b.index.delta_visits())
    }

    /// Adds the rows not read before; returns how many were new.
    fn take(&mut self, rows: &[TraceVisitRow]) -> usize {
        let newest = rows.iter().map(|r| r.id).max().unwrap_or(0).max(self.last_id);
        let floor = newest - ID_MARGIN;
        let mut added = 0;
        // Room for the rows not read before only: a catch-up re-reads the margin, and reserving for those
        // would double a full vector (a 13 M-visit index once spent 1.3 s clearing pages for it).
        self.pending.reserve(rows.iter().filter(|r| r.id > self.last_id).count());
        for r in rows {
            // Read in an earlier catch-up: every id that may still be re-read is in `recent`.
            if r.id <= self.last_id && (r.id <= self.last_id - ID_MARGIN || self.recent.contains(&r.id)) {
                continue;
            }
            if let Some(v) = trace_visit(r) {
                self.pending.push(v);
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

    /// A venue was edited (its category may have changed): the next trace reads the categories again.
    pub fn venue_edited(&self) {
        self.lock().venues_edited = true;
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

    async fn catch_up(
        self: Arc<Self>,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, StoreError> {
        let _one = self.catch_up.lock().await;
        let recheck = {
            let mut v = self.lock();
            let due =
                v.categories_read.is_none_or(|t| now - t >= Duration::minutes(CATEGORIES_RECHECK_MINUTES));
            // Taken now: an edit made while the categories are read is read at the next catch-up.
            std::mem::take(&mut v.venues_edited) || due
        };
        let result = self.clone().catch_up_with(store, now, recheck).await;
        if result.is_err() && recheck {
            self.lock().venues_edited = true;
        }
        result
    }

    /// [`TraceBook::catch_up`], reading the venues' categories again if `recheck_categories`.
    async fn catch_up_with(
        self: Arc<Self>,
        store: &dyn Store,
        now: DateTime<Utc>,
        recheck_categories: bool,
    ) -> Result<Snapshot, StoreError> {
        let (after, first, known_venues) = {
            let v = self.lock();
            (v.last_id - ID_MARGIN, v.last_id == 0, v.categories.len())
        };
        let window_start = now - Duration::days(WINDOW_DAYS);
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
        // A venue created after start-up, or maybe one whose category was edited.
        let fresh_categories =
            match recheck_categories || rows.iter().any(|r| r.venue_id >= known_venues as i64) {
                true => Some(venue_categories(store).await?),
                false => None,
            };
        let (pending, build, categories, added) = {
            let mut v = self.lock();
            if let Some(c) = fresh_categories {
                // A venue whose category changed: the index traces read is stale (its minimum overlaps at
                // once, the big index's default stays until a fold).
                let common = v.categories.len().min(c.len());
                if v.categories[..common] != c[..common] {
                    v.categories_changed = true;
                    v.built = None;
                }
                v.categories = c;
                v.categories_read = Some(now);
            }
            let added = v.take(&rows);
            if let (Some(built), 0) = (&v.built, added) {
                return Ok(built.clone());
            }
            let fold_due = v.main.as_ref().is_some_and(|m| {
                // Fold past an eighth of the big index (the small one is built again whole at each catch-up),
                // when a day of the big one's visits has left the window, or when categories changed.
                v.delta_visits().max(v.pending.len()) * 8 > m.stats().visits
                    || m.oldest_entered().is_some_and(|t| t < (window_start - Duration::days(1)).timestamp())
                    || v.categories_changed
            });
            // The fold runs beside the traces (seconds at a city's size); this one grows the small index.
            if let Some(main) = v.main.clone().filter(|_| fold_due && !v.folding) {
                v.folding = true;
                let fold = Fold {
                    main,
                    pending: v.pending.clone(),
                    categories: v.categories.clone(),
                    oldest: window_start.timestamp(),
                };
                tokio::spawn(self.clone().fold(fold));
            }
            // Kept in the book until the index over them is built (the first time, there is nothing to keep
            // them for: a failure reads the window again).
            let (build, pending) = match v.main.clone() {
                Some(main) => (Build::Grow(main), v.pending.clone()),
                None => (Build::First, std::mem::take(&mut v.pending)),
            };
            (pending, build, v.categories.clone(), added)
        };
        let oldest = window_start.timestamp();
        let first_build = matches!(build, Build::First);
        let built = tokio::task::spawn_blocking(move || layered(build, pending, categories, oldest)).await;
        let mut v = self.lock();
        let index = match settle(built) {
            Ok(index) => index,
            Err(why) => {
                // The first build took the visits with it: read the window again next time. Later ones
                // leave the book as it was (the last index still serves).
                if first_build {
                    *v = Visits::default();
                }
                return Err(StoreError::Backend(why));
            }
        };
        if first_build {
            v.main = Some(index.main().clone());
            v.pending.clear();
            v.categories_changed = false;
        }
        let snapshot = Snapshot { index: Arc::new(index) };
        v.built = Some(snapshot.clone());
        let stats = snapshot.index.stats();
        tracing::debug!(
            visits = stats.visits,
            added,
            first_build,
            small = v.delta_visits(),
            "trace index caught up"
        );
        Ok(snapshot)
    }
}

/// What a fold starts from: the big index, the visits read since it was built, the categories and the
/// window's start at that moment.
struct Fold {
    main: Arc<TraceIndex>,
    pending: Vec<TraceVisit>,
    categories: Vec<VenueCategory>,
    oldest: i64,
}

impl TraceBook {
    /// Builds a new big index from the old one and the pending visits, without holding traces up, and swaps
    /// it in: the visits read meanwhile stay pending, and the next catch-up builds the small index beside
    /// the new big one.
    async fn fold(self: Arc<Self>, fold: Fold) {
        let Fold { main, pending, categories, oldest } = fold;
        let (taken, used) = (pending.len(), categories.clone());
        let old = main.clone();
        let started = std::time::Instant::now();
        let built =
            tokio::task::spawn_blocking(move || layered(Build::Fold(main), pending, categories, oldest))
                .await;
        let mut v = self.lock();
        v.folding = false;
        match settle(built) {
            Ok(index) if v.main.as_ref().is_some_and(|m| Arc::ptr_eq(m, &old)) => {
                v.main = Some(index.main().clone());
                let folded_in = taken.min(v.pending.len());
                v.pending.drain(..folded_in);
                v.categories_changed &= v.categories != used;
                v.built = None;
                tracing::debug!(
                    visits = index.stats().visits,
                    seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
                    "trace index folded"
                );
            }
            Ok(_) => {}
            Err(why) => {
                tracing::warn!(error = %why, "folding the trace index failed; the small index keeps growing")
            }
        }
    }
}

/// What an index build starts from.
enum Build {
    /// Nothing yet: a big index of the pending visits.
    First,
    /// A small index of the pending visits beside this big one.
    Grow(Arc<TraceIndex>),
    /// A new big index of this one's visits and the pending ones (a fold).
    Fold(Arc<TraceIndex>),
}

/// The index over `build` and the visits read since, a new big one trimmed to the window unless it grows.
fn layered(
    build: Build,
    pending: Vec<TraceVisit>,
    categories: Vec<VenueCategory>,
    oldest: i64,
) -> Result<LayeredIndex, sentinel_trace::IndexError> {
    // A visit naming a venue the store does not know (cannot happen through the API), or a time no index
    // holds (before 1970, after 2242), is left out rather than failing every trace.
    let usable = |x: &TraceVisit| (x.venue as usize) < categories.len() && x.in_range();
    let mut all = match build {
        Build::Grow(main) => {
            let fresh: Vec<TraceVisit> = pending.into_iter().filter(usable).collect();
            return LayeredIndex::new(main, &fresh, categories);
        }
        Build::Fold(main) => {
            let mut all = Vec::with_capacity(main.stats().visits + pending.len());
            all.extend(main.raw_visits());
            all.extend(pending);
            all
        }
        Build::First => pending,
    };
    all.retain(|x| x.entered >= oldest && usable(x));
    let persons = all.iter().map(|x| x.person).max().map_or(0, |p| p + 1);
    let main = TraceIndex::build(&all, persons, categories.clone())?;
    drop(all);
    LayeredIndex::new(Arc::new(main), &[], categories)
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
    fn the_small_index_grows_and_is_folded_into_a_new_big_one() {
        let categories = vec![VenueCategory::ALL[0]; 4];
        let visit = |person, venue, entered| TraceVisit { person, venue, entered, left: None };
        let first = layered(
            Build::First,
            vec![visit(1, 1, 1_000), visit(2, 1, 1_100), visit(1, 2, 500)],
            categories.clone(),
            0,
        )
        .unwrap();
        assert_eq!((first.stats().visits, first.delta_visits()), (3, 0));
        // Person 1 visits again: their two earlier visits move to the small index with the new one.
        let grown =
            layered(Build::Grow(first.main().clone()), vec![visit(1, 3, 2_000)], categories.clone(), 0)
                .unwrap();
        assert_eq!((grown.stats().visits, grown.delta_visits()), (4, 3));
        assert!(Arc::ptr_eq(grown.main(), first.main()), "the big index is shared, not rebuilt");
        // Folded: one big index of all four, visits older than the window left out.
        let folded = layered(
            Build::Fold(grown.main().clone()),
            vec![visit(1, 3, 2_000), visit(3, 9, 2_100), visit(3, 1, 1 << 40)],
            categories,
            600,
        )
        .unwrap();
        assert_eq!(
            (folded.stats().visits, folded.delta_visits()),
            (3, 0),
            "entered at 500: out; venue 9: unknown; 2^40 s: no index holds it"
        );
        let rules = sentinel_trace::RuleSet::china_2022();
        let trajectory: Vec<(u32, i64)> = sentinel_trace::trajectory(&folded, &rules, 1, 0, i64::MAX)
            .iter()
            .map(|v| (v.venue, v.entered))
            .collect();
        assert_eq!(trajectory, [(1, 1_000), (3, 2_000)]);
    }

    #[tokio::test]
    async fn a_fold_swaps_in_a_new_big_index_and_keeps_what_came_meanwhile() {
        let categories = vec![VenueCategory::ALL[0]; 3];
        let visit = |person, venue, entered| TraceVisit { person, venue, entered, left: None };
        let start =
            layered(Build::First, vec![visit(1, 1, 1_000), visit(2, 2, 1_100)], categories.clone(), 0)
                .unwrap();
        let old = start.main().clone();
        let book = Arc::new(TraceBook::default());
        {
            let mut v = book.lock();
            v.main = Some(old.clone());
            v.pending = vec![visit(3, 1, 2_000), visit(1, 2, 2_100)];
            v.categories = categories.clone();
            v.folding = true;
            v.built = Some(Snapshot { index: Arc::new(start) });
        }
        // The fold began with the first pending visit; the second came while it ran.
        let fold = Fold { main: old.clone(), pending: vec![visit(3, 1, 2_000)], categories, oldest: 0 };
        book.clone().fold(fold).await;
        let v = book.lock();
        let main = v.main.clone().unwrap();
        assert!(!Arc::ptr_eq(&main, &old), "a new big index");
        assert_eq!(main.stats().visits, 3);
        assert_eq!(v.pending, [visit(1, 2, 2_100)], "what came meanwhile stays pending");
        assert!(
            !v.folding && v.built.is_none(),
            "the next catch-up builds the small index beside the new one"
        );
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
        let mut persons: Vec<u32> = v.pending.iter().map(|x| x.person).collect();
        persons.sort_unstable();
        assert_eq!(persons, (1..=120).collect::<Vec<u32>>());
        // Far beyond the margin, old ids are forgotten rather than kept forever.
        let far = ID_MARGIN * 3;
        assert_eq!(v.take(&[row(far)]), 1);
        assert_eq!(v.last_id, far);
        assert!(v.recent.iter().all(|id| *id > far - ID_MARGIN));
    }
}
