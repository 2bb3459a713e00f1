//! A big index with a small one beside it, so visits committed after the big one was built are traced
//! without rebuilding it: the small index holds the new visits and every earlier visit of the persons who
//! made them (read back from the big one), and the big one's visits of those persons are passed over. Each
//! person's visits are thus all in one of the two, so stays inferred from a person's next check-in come out as
//! a single index over all visits would give them, and a trace on the pair finds what it would find on one.
//!
//! [`IndexView`] is what the tracer reads: one index, or a pair.

use std::sync::Arc;

use sentinel_core::VenueCategory;

use crate::index::{IndexError, IndexStats, Staging, TraceIndex, TraceVisit, VisitView};
use crate::pending::Window;
use crate::person_bits::PersonBits;
use crate::rules::CompiledRules;

#[derive(Debug, Clone)]
pub struct LayeredIndex {
    main: Arc<TraceIndex>,
    /// The small index, its persons and venues numbered densely (in the order of `persons` and `venues`,
    /// so every sort inside it orders as the whole numbers would): its arrays are sized by what it holds,
    /// not by the city.
    delta: TraceIndex,
    /// The small index's persons and venues by their dense number (ascending).
    persons: Vec<u32>,
    venues: Vec<u32>,
    /// Every venue's category (those created since `main` was built too).
    categories: Vec<VenueCategory>,
    /// The persons whose visits are in `delta`: `main`'s visits of them are passed over.
    moved: PersonBits,
    /// Positions in `delta` come after `main`'s.
    delta_start: u32,
    /// `main`'s visits of the moved persons (counted once, in `delta`).
    hidden: usize,
}

impl LayeredIndex {
    /// `main` together with `new_visits` (visits it does not hold) at venues whose categories
    /// `venue_categories` gives (all venues, those created since `main` was built too). The work is
    /// proportional to the new visits and their persons' earlier ones, plus a bit per person.
    pub fn new(
        main: Arc<TraceIndex>,
        new_visits: &[TraceVisit],
        venue_categories: Vec<VenueCategory>,
    ) -> Result<Self, IndexError> {
        let person_bound = new_visits
            .iter()
            .map(|v| v.person.saturating_add(1))
            .max()
            .unwrap_or(0)
            .max(main.person_count() as u32);
        let mut moved = PersonBits::new(person_bound as usize);
        for v in new_visits {
            moved.insert(v.person);
        }
        // Earlier visits first, as they came before the new ones.
        let persons: Vec<u32> = moved.iter().collect();
        let mut visits = Vec::with_capacity(new_visits.len() * 2);
        for &person in &persons {
            visits.extend(main.raw_visits_of(person));
        }
        let hidden = visits.len();
        visits.extend_from_slice(new_visits);
        // Positions of the small index follow the big one's, in one u32.
        if main.stats().visits + visits.len() > u32::MAX as usize {
            return Err(IndexError::TooMany);
        }
        let mut venues: Vec<u32> = visits.iter().map(|v| v.venue).collect();
        venues.sort_unstable();
        venues.dedup();
        let mut local_categories = Vec::with_capacity(venues.len());
        for &venue in &venues {
            match venue_categories.get(venue as usize) {
                Some(&c) => local_categories.push(c),
                None => {
                    let index = visits.iter().position(|v| v.venue == venue).unwrap_or(0);
                    return Err(IndexError::UnknownVenue { index, venue, venues: venue_categories.len() });
                }
            }
        }
        // Both lists are ascending, so a binary search numbers each visit's person and venue.
        let dense = |list: &[u32], id: u32| list.binary_search(&id).map_or(0, |k| k as u32);
        for v in &mut visits {
            v.person = dense(&persons, v.person);
            v.venue = dense(&venues, v.venue);
        }
        // Nothing new: no small index.
        let delta = match visits.is_empty() {
            true => TraceIndex::default(),
            false => TraceIndex::build(&visits, persons.len() as u32, local_categories)?,
        };
        let delta_start = main.stats().visits as u32;
        Ok(LayeredIndex {
            main,
            delta,
            persons,
            venues,
            categories: venue_categories,
            moved,
            delta_start,
            hidden,
        })
    }

    /// The big index this one adds to.
    pub fn main(&self) -> &Arc<TraceIndex> {
        &self.main
    }

    /// Visits in the small index (the new ones and their persons' earlier ones).
    pub fn delta_visits(&self) -> usize {
        self.delta.stats().visits
    }

    /// Sizes of both; `visits` counts each visit once.
    pub fn stats(&self) -> IndexStats {
        let (main, delta) = (self.main.stats(), self.delta.stats());
        IndexStats {
            visits: main.visits - self.hidden + delta.visits,
            persons: main.persons.max(self.persons.last().map_or(0, |&p| p as usize + 1)),
            venues: main.venues.max(self.categories.len()),
            visit_bytes: main.visit_bytes + delta.visit_bytes,
            total_bytes: main.total_bytes
                + delta.total_bytes
                + self.moved.bytes()
                + (self.persons.len() + self.venues.len()) * 4
                + self.categories.len(),
        }
    }

    fn is_moved(&self, person: u32) -> bool {
        self.moved.contains(person)
    }

    /// A venue's dense number in the small index, if it has visits there.
    fn local_venue(&self, venue: u32) -> Option<u32> {
        self.venues.binary_search(&venue).ok().map(|k| k as u32)
    }

    /// A visit of the small index with its person and venue numbered as in the city.
    fn global(&self, v: VisitView) -> VisitView {
        VisitView {
            position: v.position + self.delta_start,
            person: self.persons[v.person as usize],
            venue: self.venues[v.venue as usize],
            ..v
        }
    }
}

/// The index a trace reads: one, or a big one with a small one beside it.
#[derive(Debug, Clone, Copy)]
pub enum IndexView<'a> {
    Single(&'a TraceIndex),
    Layered(&'a LayeredIndex),
}

impl<'a> From<&'a TraceIndex> for IndexView<'a> {
    fn from(index: &'a TraceIndex) -> Self {
        IndexView::Single(index)
    }
}

impl<'a> From<&'a LayeredIndex> for IndexView<'a> {
    fn from(index: &'a LayeredIndex) -> Self {
        IndexView::Layered(index)
    }
}

impl<'a> From<&'a Arc<LayeredIndex>> for IndexView<'a> {
    fn from(index: &'a Arc<LayeredIndex>) -> Self {
        IndexView::Layered(index)
    }
}

impl<'a> IndexView<'a> {
    pub fn stats(&self) -> IndexStats {
        match self {
            IndexView::Single(i) => i.stats(),
            IndexView::Layered(l) => l.stats(),
        }
    }

    pub fn person_count(&self) -> usize {
        match self {
            IndexView::Single(i) => i.person_count(),
            IndexView::Layered(l) => l.stats().persons,
        }
    }

    pub fn category(&self, venue: u32) -> Option<VenueCategory> {
        match self {
            IndexView::Single(i) => i.category(venue),
            IndexView::Layered(l) => {
                l.categories.get(venue as usize).copied().or_else(|| l.main.category(venue))
            }
        }
    }

    /// A person's visits in time order, with stays as `rules` sees them.
    pub(crate) fn visits_of(
        self,
        person: u32,
        rules: &'a CompiledRules,
    ) -> Box<dyn Iterator<Item = VisitView> + 'a> {
        match self {
            IndexView::Single(i) => Box::new(i.visits_of(person, rules)),
            IndexView::Layered(l) if l.is_moved(person) => match l.persons.binary_search(&person) {
                Ok(local) => Box::new(l.delta.visits_of(local as u32, rules).map(move |v| l.global(v))),
                Err(_) => Box::new(std::iter::empty()),
            },
            IndexView::Layered(l) => Box::new(l.main.visits_of(person, rules)),
        }
    }

    /// See [`TraceIndex::overlaps`]; positions in the small index come after the big one's.
    pub(crate) fn overlaps(
        self,
        venue: u32,
        window: (i64, i64),
        min_overlap: i64,
        rules: &CompiledRules,
        mut found: impl FnMut(VisitView),
    ) {
        match self {
            IndexView::Single(i) => i.overlaps(venue, window, min_overlap, rules, found),
            IndexView::Layered(l) => {
                if (venue as usize) < l.main.venue_count() {
                    l.main.overlaps(venue, window, min_overlap, rules, |v| {
                        if !l.is_moved(v.person) {
                            found(v)
                        }
                    });
                }
                if let Some(local) = l.local_venue(venue) {
                    l.delta.overlaps(local, window, min_overlap, rules, |v| found(l.global(v)));
                }
            }
        }
    }

    /// Makes `staging`'s windows those of `sources` until `until` (see [`TraceIndex::source_windows`]),
    /// each with the least overlap its venue's category needs under `rules`.
    pub(crate) fn source_windows(
        self,
        sources: &[(u32, i64)],
        until: i64,
        rules: &'a CompiledRules,
        staging: &mut Staging,
    ) {
        staging.windows.clear();
        match self {
            IndexView::Single(i) => i.source_windows(sources, until, rules, staging),
            IndexView::Layered(l) => {
                // The moved persons' visits are all in the small index.
                let (moved, kept): (Vec<_>, Vec<_>) =
                    sources.iter().copied().partition(|&(person, _)| l.is_moved(person));
                l.main.source_windows(&kept, until, rules, staging);
                // The kept sources' windows before the moved ones': the order of the windows of different
                // sources does not change a trace (see `overlaps_many`).
                for (person, from) in moved {
                    staging.windows.extend(self.windows_of(person, (from, until), rules).map(|(_, w)| w));
                }
            }
        }
        staging.min_overlaps.clear();
        staging.min_overlaps.extend(staging.windows.iter().map(|w| self.min_overlap(w.venue, rules)));
    }

    /// The windows ([`Window::of`]) in which `person`'s visits entered before `until` expose others when
    /// their infectious period starts at `from`, in time order, each with its visit.
    pub(crate) fn windows_of(
        self,
        person: u32,
        (from, until): (i64, i64),
        rules: &'a CompiledRules,
    ) -> impl Iterator<Item = (VisitView, Window)> + 'a {
        let visits = self.visits_of(person, rules).take_while(move |v| v.entered < until);
        visits.filter_map(move |v| {
            Window::of(v.venue, (v.entered, v.ends), person, from, rules.buffer_secs).map(|w| (v, w))
        })
    }

    /// The seconds together that make an overlap at `venue` under `rules` (by the venue's category).
    pub(crate) fn min_overlap(self, venue: u32, rules: &CompiledRules) -> i64 {
        rules.min_overlap_secs[self.category(venue).map_or(0, VenueCategory::index)]
    }

    /// Calls `found` with each of `staging`'s windows (its number and itself) and each visit that overlaps
    /// it (see [`TraceIndex::overlaps_many`]). On a pair, the big index's overlaps of every window come
    /// before the small one's: a trace is the same whatever the order of the exposures of different persons
    /// (each person's visits are all in one of the two, so one person's come in the windows' order), and of
    /// different sources (ties between exposures of one person are broken by the first found only within one
    /// source, whose windows keep their order).
    pub(crate) fn overlaps_many(
        self,
        rules: &CompiledRules,
        staging: &mut Staging,
        mut found: impl FnMut(usize, &Window, VisitView),
    ) {
        match self {
            IndexView::Single(i) => i.overlaps_many(rules, staging, found),
            IndexView::Layered(l) => {
                l.main.overlaps_many(rules, staging, |k, w, v| {
                    if !l.is_moved(v.person) {
                        found(k, w, v)
                    }
                });
                for (k, w) in staging.windows.iter().enumerate() {
                    if let Some(local) = l.local_venue(w.venue) {
                        let min_overlap = staging.min_overlaps[k];
                        l.delta.overlaps(local, (w.from, w.to), min_overlap, rules, |v| {
                            found(k, w, l.global(v))
                        });
                    }
                }
            }
        }
    }

    /// See [`TraceIndex::entered_between`].
    pub(crate) fn entered_between(
        self,
        venue: u32,
        window: (i64, i64),
        rules: &CompiledRules,
        mut found: impl FnMut(VisitView),
    ) {
        match self {
            IndexView::Single(i) => i.entered_between(venue, window, rules, found),
            IndexView::Layered(l) => {
                if (venue as usize) < l.main.venue_count() {
                    l.main.entered_between(venue, window, rules, |v| {
                        if !l.is_moved(v.person) {
                            found(v)
                        }
                    });
                }
                if let Some(local) = l.local_venue(venue) {
                    l.delta.entered_between(local, window, rules, |v| found(l.global(v)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(person: u32, venue: u32, entered: i64, left: Option<i64>) -> TraceVisit {
        TraceVisit { person, venue, entered, left }
    }

    #[test]
    fn a_person_read_back_builds_the_same_stays() {
        let categories = vec![VenueCategory::ALL[0]; 3];
        let visits = [
            visit(1, 0, 1_000_000, Some(1_000_000 + 3_601)),
            visit(1, 1, 1_010_000, None),
            visit(1, 2, 1_020_000, None),
            visit(2, 1, 1_010_100, Some(1_010_050)),
        ];
        let main = TraceIndex::build(&visits, 3, categories.clone()).unwrap();
        let back: Vec<TraceVisit> = (0..3).flat_map(|p| main.raw_visits_of(p).collect::<Vec<_>>()).collect();
        assert_eq!(back.len(), 4);
        assert_eq!(back[0].left, Some(1_000_000 + 3_660), "a check-out kept in whole minutes, rounded up");
        assert_eq!((back[1].left, back[2].left), (None, None));
        let mut whole_back: Vec<TraceVisit> = main.raw_visits().collect();
        let mut sorted_back = back.clone();
        let key = |v: &TraceVisit| (v.person, v.venue, v.entered, v.left);
        whole_back.sort_by_key(key);
        sorted_back.sort_by_key(key);
        assert_eq!(whole_back, sorted_back, "venue by venue, the same visits");
        let again = TraceIndex::build(&back, 3, categories.clone()).unwrap();
        let rules = CompiledRules::new(&crate::RuleSet::china_2022());
        for p in 0..3 {
            let a: Vec<_> =
                main.visits_of(p, &rules).map(|v| (v.venue, v.entered, v.ends, v.inferred)).collect();
            let b: Vec<_> =
                again.visits_of(p, &rules).map(|v| (v.venue, v.entered, v.ends, v.inferred)).collect();
            assert_eq!(a, b);
        }
        // A late upload between two of person 1's visits cuts the stay before it, in the pair as in one.
        let late = [visit(1, 2, 1_005_000, None), visit(3, 0, 1_000_100, None)];
        let layered = LayeredIndex::new(Arc::new(main), &late, categories.clone()).unwrap();
        assert_eq!((layered.stats().visits, layered.delta_visits()), (6, 5));
        let nothing_new = LayeredIndex::new(layered.main().clone(), &[], categories.clone()).unwrap();
        assert_eq!((nothing_new.stats().visits, nothing_new.delta_visits()), (4, 0));
        let all: Vec<TraceVisit> = visits.iter().chain(&late).copied().collect();
        let whole = TraceIndex::build(&all, 4, categories).unwrap();
        for p in 0..4 {
            let a: Vec<_> = whole.visits_of(p, &rules).map(|v| (v.venue, v.entered, v.ends)).collect();
            let b: Vec<_> = IndexView::from(&layered)
                .visits_of(p, &rules)
                .map(|v| (v.venue, v.entered, v.ends))
                .collect();
            assert_eq!(a, b, "person {p}");
        }
    }
}
