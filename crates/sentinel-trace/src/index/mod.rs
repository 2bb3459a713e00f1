//! The co-presence index: the visits of a window sorted by (venue, entered) in three columns of 10 bytes a
//! visit, a venue offset array, and per person the positions of their visits (4 bytes a visit).
//!
//! A stay is kept in whole minutes (at most about 22 days): a check-out rounds up; an entry-only scan keeps
//! the time to the person's next check-in (rounded down, so it never reaches past it), marked by the stay's
//! top bit, and the rule set's default stay for the category caps it when a trace reads it. A venue's longest
//! stay bounds the binary search of an overlap query.

use sentinel_core::VenueCategory;

use crate::rules::CompiledRules;
use crate::search;

mod staged;

pub(crate) use staged::Staging;

/// One visit as the index takes it. Times are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceVisit {
    pub person: u32,
    pub venue: u32,
    pub entered: i64,
    /// `None`: no check-out was recorded.
    pub left: Option<i64>,
}

impl TraceVisit {
    /// A visit from stored millisecond times (the store's unit), in whole seconds rounded down.
    pub fn from_millis(person: u32, venue: u32, entered_ms: i64, left_ms: Option<i64>) -> Self {
        TraceVisit {
            person,
            venue,
            entered: entered_ms.div_euclid(1000),
            left: left_ms.map(|l| l.div_euclid(1000)),
        }
    }

    /// Whether an index can hold this visit's time (see [`IndexError::OutOfWindow`]).
    pub fn in_range(&self) -> bool {
        (0..LATEST).contains(&self.entered)
    }
}

/// The top bit of a stored stay: inferred (no check-out); the other 15 bits are minutes.
const INFERRED: u16 = 0x8000;
const MINUTES: u16 = 0x7fff;
/// An inferred stay with no later check-in of the same person: the rule's default applies in full.
const OPEN_STAY: u16 = INFERRED | MINUTES;
/// The longest stay kept, in minutes (about 22 days, longer than any window a trace looks at).
const MAX_STAY: u16 = MINUTES - 1;
/// Positions per entry of `venue_blocks` (4 bytes per 256 visits).
const VENUE_BLOCK: usize = 256;
/// Times an index takes: Unix seconds from 1970 to about 2242, so no sum of a time and a stay overflows.
const LATEST: i64 = 1 << 33;

/// The minutes a stored stay stands for when entry-only scans get `default_stay` minutes.
fn minutes(stored: u16, default_stay: u16) -> u16 {
    if stored & INFERRED != 0 { (stored & MINUTES).min(default_stay) } else { stored }
}

/// A visit read back from the index, with its stay as a rule set sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitView {
    /// Position in the index (stable for the life of this index).
    pub position: u32,
    pub person: u32,
    pub venue: u32,
    pub entered: i64,
    /// Entered plus the stay in force.
    pub ends: i64,
    /// The check-out was missing and the stay was inferred.
    pub inferred: bool,
}

/// Sizes of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub visits: usize,
    pub persons: usize,
    pub venues: usize,
    /// Bytes of the per-visit columns and position list (14 a visit).
    pub visit_bytes: usize,
    /// Bytes of everything, offsets and per-venue bounds included.
    pub total_bytes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TraceIndex {
    /// `entered` is stored as seconds after this instant.
    base: i64,
    venue_categories: Vec<VenueCategory>,
    venue_offsets: Vec<u32>,
    /// The venue holding every [`VENUE_BLOCK`]-th position: narrows `venue_of` to the few venues of a block.
    venue_blocks: Vec<u32>,
    /// Per venue, the longest checked-out stay and the longest stored inferred stay (minutes).
    venue_checked_out_max: Vec<u16>,
    venue_inferred_max: Vec<u16>,
    person: Vec<u32>,
    entered: Vec<u32>,
    stay: Vec<u16>,
    person_offsets: Vec<u32>,
    person_visits: Vec<u32>,
}

/// Why an index could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    #[error("visit {index} names venue {venue}, but only {venues} venues are known")]
    UnknownVenue { index: usize, venue: u32, venues: usize },
    #[error("visit {index} names person {person}, but only {persons} persons are known")]
    UnknownPerson { index: usize, person: u32, persons: u32 },
    #[error("visit {index} entered at {seconds} (Unix seconds), outside 1970 to 2242")]
    OutOfWindow { index: usize, seconds: i64 },
    #[error("an index holds at most 4 294 967 295 visits")]
    TooMany,
}

fn minutes_up(secs: i64) -> u16 {
    u16::try_from(secs.max(0).saturating_add(59) / 60).unwrap_or(MAX_STAY).min(MAX_STAY)
}

fn minutes_down(secs: i64) -> u16 {
    u16::try_from(secs.max(0) / 60).unwrap_or(MAX_STAY).min(MAX_STAY)
}

/// Counting sort of `0..n` by `key` into a CSR: offsets (len `buckets + 1`) and the items in bucket order.
fn csr(n: usize, buckets: usize, key: impl Fn(usize) -> usize) -> (Vec<u32>, Vec<u32>) {
    let mut offsets = vec![0u32; buckets + 1];
    for i in 0..n {
        offsets[key(i) + 1] += 1;
    }
    for b in 0..buckets {
        offsets[b + 1] += offsets[b];
    }
    let mut next = offsets.clone();
    let mut items = vec![0u32; n];
    for i in 0..n {
        let b = key(i);
        items[next[b] as usize] = i as u32;
        next[b] += 1;
    }
    (offsets, items)
}

impl TraceIndex {
    /// Builds the index of `visits` by `persons` persons (numbered densely from 0) at venues whose
    /// categories `venue_categories` gives, by dense venue number. Memory is proportional to visits, persons
    /// and venues.
    pub fn build(
        visits: &[TraceVisit],
        persons: u32,
        venue_categories: Vec<VenueCategory>,
    ) -> Result<Self, IndexError> {
        let n = visits.len();
        u32::try_from(n).map_err(|_| IndexError::TooMany)?;
        let venues = venue_categories.len();
        for (index, v) in visits.iter().enumerate() {
            if v.venue as usize >= venues {
                return Err(IndexError::UnknownVenue { index, venue: v.venue, venues });
            }
            if v.person >= persons {
                return Err(IndexError::UnknownPerson { index, person: v.person, persons });
            }
            if !v.in_range() {
                return Err(IndexError::OutOfWindow { index, seconds: v.entered });
            }
        }
        let base = visits.iter().map(|v| v.entered).min().unwrap_or(0);
        let persons = persons as usize;

        // Per person, in time order: the stays (an entry-only scan is cut at the next check-in).
        let (person_offsets, mut by_person) = csr(n, persons, |i| visits[i].person as usize);
        let mut stay = vec![0u16; n];
        for p in 0..persons {
            let slice = &mut by_person[person_offsets[p] as usize..person_offsets[p + 1] as usize];
            slice.sort_unstable_by_key(|&i| (visits[i as usize].entered, visits[i as usize].venue, i));
            for (k, &i) in slice.iter().enumerate() {
                let v = &visits[i as usize];
                stay[i as usize] = match v.left {
                    Some(left) => minutes_up(left.saturating_sub(v.entered)),
                    None => slice.get(k + 1).map_or(OPEN_STAY, |&next| {
                        INFERRED | minutes_down(visits[next as usize].entered - v.entered)
                    }),
                };
            }
        }

        // Per venue, in time order: the columns.
        let (venue_offsets, mut by_venue) = csr(n, venues, |i| visits[i].venue as usize);
        let mut position_of = vec![0u32; n];
        let mut index = TraceIndex {
            base,
            venue_checked_out_max: vec![0; venues],
            venue_inferred_max: vec![0; venues],
            person: Vec::with_capacity(n),
            entered: Vec::with_capacity(n),
            stay: Vec::with_capacity(n),
            ..Default::default()
        };
        for v in 0..venues {
            let slice = &mut by_venue[venue_offsets[v] as usize..venue_offsets[v + 1] as usize];
            slice.sort_unstable_by_key(|&i| (visits[i as usize].entered, visits[i as usize].person, i));
            for &i in slice.iter() {
                let i = i as usize;
                position_of[i] = index.person.len() as u32;
                index.person.push(visits[i].person);
                index.entered.push((visits[i].entered - base) as u32);
                index.stay.push(stay[i]);
                let max = if stay[i] & INFERRED != 0 {
                    &mut index.venue_inferred_max[v]
                } else {
                    &mut index.venue_checked_out_max[v]
                };
                *max = (*max).max(stay[i] & MINUTES);
            }
        }
        for i in by_person.iter_mut() {
            *i = position_of[*i as usize];
        }
        index.venue_blocks = (0..n.div_ceil(VENUE_BLOCK))
            .map(|b| (venue_offsets.partition_point(|&o| o as usize <= b * VENUE_BLOCK) - 1) as u32)
            .collect();
        index.venue_categories = venue_categories;
        index.venue_offsets = venue_offsets;
        index.person_offsets = person_offsets;
        index.person_visits = by_person;
        Ok(index)
    }

    /// Sizes measured from the index's own arrays.
    pub fn stats(&self) -> IndexStats {
        use std::mem::size_of_val;
        let visit_bytes = size_of_val(&self.person[..])
            + size_of_val(&self.entered[..])
            + size_of_val(&self.stay[..])
            + size_of_val(&self.person_visits[..]);
        let other_bytes = size_of_val(&self.venue_categories[..])
            + size_of_val(&self.venue_offsets[..])
            + size_of_val(&self.venue_blocks[..])
            + size_of_val(&self.venue_checked_out_max[..])
            + size_of_val(&self.venue_inferred_max[..])
            + size_of_val(&self.person_offsets[..]);
        IndexStats {
            visits: self.person.len(),
            persons: self.person_count(),
            venues: self.venue_categories.len(),
            visit_bytes,
            total_bytes: visit_bytes + other_bytes,
        }
    }

    pub fn person_count(&self) -> usize {
        self.person_offsets.len().saturating_sub(1)
    }

    /// When the earliest visit held was entered (None: no visits).
    pub fn oldest_entered(&self) -> Option<i64> {
        (!self.person.is_empty()).then_some(self.base)
    }

    pub fn venue_count(&self) -> usize {
        self.venue_categories.len()
    }

    /// The category of every venue, by venue number, as the index was built with them.
    pub fn venue_categories(&self) -> &[VenueCategory] {
        &self.venue_categories
    }

    /// A person's visits as they were given to [`TraceIndex::build`], up to what the index keeps: times in whole
    /// seconds, check-outs in whole minutes, and no check-out where the stay was inferred. Building an index
    /// from them again gives the same stays (see [`crate::LayeredIndex`]).
    pub fn raw_visits_of(&self, person: u32) -> impl Iterator<Item = TraceVisit> + '_ {
        self.positions_of(person)
            .iter()
            .map(move |&position| self.raw_at(position as usize, person, self.venue_of(position)))
    }

    /// The positions of a person's visits in time order (none for a person the index does not know).
    fn positions_of(&self, person: u32) -> &[u32] {
        &self.person_visits[self.person_range(person)]
    }

    /// Where a person's positions are in `person_visits` (empty for a person the index does not know).
    fn person_range(&self, person: u32) -> std::ops::Range<usize> {
        let p = person as usize;
        match (self.person_offsets.get(p), self.person_offsets.get(p + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        }
    }

    /// The entry time of the visit at `at`, in Unix seconds.
    fn entered_at(&self, at: usize) -> i64 {
        self.base + i64::from(self.entered[at])
    }

    /// Every visit as [`TraceIndex::raw_visits_of`] gives it, venue by venue: what a rebuild with more visits
    /// starts from, instead of a second copy of the visits kept beside the index.
    pub fn raw_visits(&self) -> impl Iterator<Item = TraceVisit> + '_ {
        (0..self.venue_count()).flat_map(move |venue| {
            self.venue_visits(venue as u32).map(move |at| self.raw_at(at, self.person[at], venue as u32))
        })
    }

    /// The visit at `at` as `build` took it (check-out in whole minutes; none where the stay was inferred).
    fn raw_at(&self, at: usize, person: u32, venue: u32) -> TraceVisit {
        let entered = self.entered_at(at);
        let stay = self.stay[at];
        TraceVisit {
            person,
            venue,
            entered,
            left: (stay & INFERRED == 0).then_some(entered + i64::from(stay) * 60),
        }
    }

    pub fn category(&self, venue: u32) -> Option<VenueCategory> {
        self.venue_categories.get(venue as usize).copied()
    }

    /// The stay in force at `position` when entry-only scans at its venue get `default_stay` minutes, in seconds.
    fn stay_secs(&self, position: usize, default_stay: u16) -> i64 {
        i64::from(minutes(self.stay[position], default_stay)) * 60
    }

    fn view(&self, position: usize, venue: u32, default_stay: u16) -> VisitView {
        let entered = self.entered_at(position);
        VisitView {
            position: position as u32,
            person: self.person[position],
            venue,
            entered,
            ends: entered + self.stay_secs(position, default_stay),
            inferred: self.stay[position] & INFERRED != 0,
        }
    }

    /// The venue a position belongs to: a binary search over the offsets of the venues its block spans
    /// (mostly one to a few, in one cache line), not over all of them.
    fn venue_of(&self, position: u32) -> u32 {
        let block = position as usize / VENUE_BLOCK;
        let first = self.venue_blocks[block] as usize;
        let last = self.venue_blocks.get(block + 1).map_or(self.venue_count(), |&v| v as usize + 1);
        (first + self.venue_offsets[first + 1..=last].partition_point(|&o| o <= position)) as u32
    }

    fn default_stay(&self, venue: u32, rules: &CompiledRules) -> u16 {
        rules.default_stay_minutes[self.venue_categories[venue as usize].index()]
    }

    /// A person's visits in time order, with stays as `rules` sees them.
    pub(crate) fn visits_of<'a>(
        &'a self,
        person: u32,
        rules: &'a CompiledRules,
    ) -> impl Iterator<Item = VisitView> + 'a {
        self.positions_of(person).iter().map(move |&position| {
            let venue = self.venue_of(position);
            self.view(position as usize, venue, self.default_stay(venue, rules))
        })
    }

    /// The positions of `venue`'s visits entered at or after `from` (a binary search asking for the lines of
    /// its next probes ahead: [`search::first_at_least`]), in time order.
    fn entered_since(&self, venue: u32, from: i64) -> std::ops::Range<usize> {
        let std::ops::Range { start, end } = self.venue_visits(venue);
        start + search::first_at_least(&self.entered[start..end], self.since(from))..end
    }

    /// The positions of `venue`'s visits.
    fn venue_visits(&self, venue: u32) -> std::ops::Range<usize> {
        let v = venue as usize;
        self.venue_offsets[v] as usize..self.venue_offsets[v + 1] as usize
    }

    /// `from` as a stored entry time: the least that is not before it.
    fn since(&self, from: i64) -> u32 {
        (from - self.base).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Calls `found` with every visit at `venue` that overlaps `[from, to)` by at least `min_overlap`
    /// seconds under `rules`. Only visits entered in `[from - the venue's longest stay, to)` are read (a
    /// binary search finds the first).
    pub(crate) fn overlaps(
        &self,
        venue: u32,
        (from, to): (i64, i64),
        min_overlap: i64,
        rules: &CompiledRules,
        found: impl FnMut(VisitView),
    ) {
        let default_stay = self.default_stay(venue, rules);
        let range = self.entered_since(venue, from - self.longest_stay(venue, default_stay));
        self.scan_overlaps(venue, range, (from, to), min_overlap, default_stay, found);
    }

    /// The longest stay at `venue` when entry-only scans get `default_stay` minutes, in seconds.
    fn longest_stay(&self, venue: u32, default_stay: u16) -> i64 {
        let v = venue as usize;
        i64::from(self.venue_checked_out_max[v].max(self.venue_inferred_max[v].min(default_stay))) * 60
    }

    /// Calls `found` with the visits of `range` (at `venue`, from the first that may overlap) that overlap
    /// `[from, to)` by at least `min_overlap` seconds. Inlined, so that the caller's `found` is too (the
    /// staged scans' closure, called apart, cost a small trace about a tenth of its time).
    #[inline(always)]
    fn scan_overlaps(
        &self,
        venue: u32,
        range: std::ops::Range<usize>,
        (from, to): (i64, i64),
        min_overlap: i64,
        default_stay: u16,
        mut found: impl FnMut(VisitView),
    ) {
        let (entered, stay) = (&self.entered[range.clone()], &self.stay[range.clone()]);
        for k in 0..entered.len() {
            let e = self.base + i64::from(entered[k]);
            if e >= to {
                break;
            }
            let ends = e + i64::from(minutes(stay[k], default_stay)) * 60;
            if ends.min(to) - e.max(from) >= min_overlap {
                found(self.view(range.start + k, venue, default_stay));
            }
        }
    }

    /// Calls `found` with every visit at `venue` entered in `[from, to)`, with its stay as `rules` sees it.
    pub(crate) fn entered_between(
        &self,
        venue: u32,
        (from, to): (i64, i64),
        rules: &CompiledRules,
        mut found: impl FnMut(VisitView),
    ) {
        let default_stay = self.default_stay(venue, rules);
        let range = self.entered_since(venue, from);
        for (k, &e) in self.entered[range.clone()].iter().enumerate() {
            if self.base + i64::from(e) >= to {
                break;
            }
            found(self.view(range.start + k, venue, default_stay));
        }
    }
}
