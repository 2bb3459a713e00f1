//! The second hop's reads of the index for many sources at once, stage by stage: each stage asks for the
//! cache lines of every source's next reads before the next stage reads them, so the misses of different
//! windows overlap. Taken one source at a time, a window's reads wait on one another (the person's offsets,
//! their positions, each visit's time and venue, the venue's offsets, a binary search, the scan), and beyond
//! this machine's 512 KB cache nearly each is a trip to memory: ~280 ns a load for one chain of loads, ~23 ns
//! a load for sixteen chains walked side by side.

use super::{MINUTES, TraceIndex, VENUE_BLOCK, VisitView};
use crate::pending::Window;
use crate::prefetch::prefetch;
use crate::rules::CompiledRules;
use crate::search::Halving;

/// A window's scan being prepared: the search for its venue's first visit that may overlap it.
#[derive(Debug, Clone, Copy)]
struct Scan {
    window: u32,
    /// The venue's visits, searched for the first entered at `since` (relative to the index's base) or later.
    start: u32,
    end: u32,
    since: u32,
    default_stay: u16,
    search: Halving,
}

/// The windows of a batch of sources and the scratch space of the staged reads, kept from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct Staging {
    pub windows: Vec<Window>,
    /// Beside each window, the seconds an overlap needs there.
    pub min_overlaps: Vec<i64>,
    /// Per source, its positions in `person_visits`.
    ranges: Vec<std::ops::Range<usize>>,
    /// Per visit that may make a window: its position, its source's number and (once found) its venue.
    visits: Vec<(u32, u32, u32)>,
    scans: Vec<Scan>,
}

impl TraceIndex {
    /// Appends to `staging.windows` the windows ([`Window::of`]) of the visits of `sources` (each a person
    /// and the start of their infectious period) entered before `until`, sources in order, each one's in
    /// time order.
    pub(crate) fn source_windows(
        &self,
        sources: &[(u32, i64)],
        until: i64,
        rules: &CompiledRules,
        staging: &mut Staging,
    ) {
        // Each source's offsets, then the lines of their positions.
        for &(person, _) in sources {
            if let Some(offset) = self.person_offsets.get(person as usize) {
                prefetch(offset);
            }
        }
        staging.ranges.clear();
        for &(person, _) in sources {
            let range = self.person_range(person);
            for k in range.clone().step_by(16).chain(range.clone().last()) {
                prefetch(&self.person_visits[k]);
            }
            staging.ranges.push(range);
        }
        // Each visit's entry and stay.
        for range in &staging.ranges {
            for &position in &self.person_visits[range.clone()] {
                prefetch(&self.entered[position as usize]);
                prefetch(&self.stay[position as usize]);
            }
        }
        // Those entered before `until` and, at their longest stay, still there at the start: the block of
        // their venue.
        staging.visits.clear();
        for (source, (range, &(_, from))) in staging.ranges.iter().zip(sources).enumerate() {
            for &position in &self.person_visits[range.clone()] {
                let at = position as usize;
                let entered = self.entered_at(at);
                if entered >= until {
                    break;
                }
                if entered + i64::from(self.stay[at] & MINUTES) * 60 > from {
                    prefetch(&self.venue_blocks[at / VENUE_BLOCK]);
                    staging.visits.push((position, source as u32, 0));
                }
            }
        }
        // The venue offsets the block spans, then the venue and what the window needs of it.
        for &(position, _, _) in &staging.visits {
            let block = position as usize / VENUE_BLOCK;
            prefetch(&self.venue_offsets[self.venue_blocks[block] as usize + 1]);
        }
        for (position, _, venue) in staging.visits.iter_mut() {
            *venue = self.venue_of(*position);
            self.prefetch_venue(*venue);
        }
        for &(position, source, venue) in &staging.visits {
            let (person, from) = sources[source as usize];
            let at = position as usize;
            let entered = self.entered_at(at);
            let ends = entered + self.stay_secs(at, self.default_stay(venue, rules));
            staging.windows.extend(Window::of(venue, (entered, ends), person, from, rules.buffer_secs));
        }
    }

    /// Calls `found` with each window of `staging` (its number and itself) and each visit at its venue that
    /// overlaps it by at least the window's `min_overlaps` entry, as [`TraceIndex::overlaps`] finds them,
    /// window by window; windows at venues this index does not know find nothing.
    pub(crate) fn overlaps_many(
        &self,
        rules: &CompiledRules,
        staging: &mut Staging,
        mut found: impl FnMut(usize, &Window, VisitView),
    ) {
        let windows = &staging.windows;
        debug_assert_eq!(staging.min_overlaps.len(), windows.len(), "a least overlap for every window");
        for w in windows.iter().filter(|w| (w.venue as usize) < self.venue_count()) {
            self.prefetch_venue(w.venue);
        }
        // The searches, one halving of each in turn (each asks for the lines of its next step).
        staging.scans.clear();
        for (k, w) in windows.iter().enumerate().filter(|(_, w)| (w.venue as usize) < self.venue_count()) {
            let default_stay = self.default_stay(w.venue, rules);
            let visits = self.venue_visits(w.venue);
            let search = Halving::new(visits.len());
            search.prefetch_first(&self.entered[visits.clone()]);
            staging.scans.push(Scan {
                window: k as u32,
                start: visits.start as u32,
                end: visits.end as u32,
                since: self.since(w.from - self.longest_stay(w.venue, default_stay)),
                default_stay,
                search,
            });
        }
        let mut searching = true;
        while searching {
            searching = false;
            for scan in staging.scans.iter_mut() {
                searching |=
                    scan.search.step(&self.entered[scan.start as usize..scan.end as usize], scan.since);
            }
        }
        // The first lines of each scan, then the scans.
        for scan in staging.scans.iter_mut() {
            let first = scan.start as usize
                + scan.search.answer(&self.entered[scan.start as usize..scan.end as usize], scan.since);
            scan.start = first as u32;
            if first < scan.end as usize {
                prefetch(&self.entered[first]);
                prefetch(&self.stay[first]);
                prefetch(&self.person[first]);
            }
        }
        for scan in &staging.scans {
            let k = scan.window as usize;
            let (w, min_overlap) = (&windows[k], staging.min_overlaps[k]);
            let range = scan.start as usize..scan.end as usize;
            self.scan_overlaps(w.venue, range, (w.from, w.to), min_overlap, scan.default_stay, |visit| {
                found(k, w, visit)
            });
        }
    }

    /// Asks for the lines of what a window at `venue` reads of it before its search.
    fn prefetch_venue(&self, venue: u32) {
        let v = venue as usize;
        prefetch(&self.venue_categories[v]);
        prefetch(&self.venue_checked_out_max[v]);
        prefetch(&self.venue_inferred_max[v]);
        prefetch(&self.venue_offsets[v]);
    }
}

#[cfg(test)]
mod tests {
    use sentinel_core::VenueCategory;

    use super::*;
    use crate::index::TraceVisit;
    use crate::{IndexView, RuleSet};

    /// 3 000 visits by 200 persons at 40 venues of every category, stays of 1 to 121 minutes, a seventh
    /// without check-out: the staged reads find the windows and overlaps that one source and one window at a
    /// time find, in the same order.
    #[test]
    fn staged_reads_find_what_one_at_a_time_finds() {
        let start = 1_700_000_000;
        let visits: Vec<TraceVisit> = (0..3000u32)
            .map(|i| {
                let entered = start + i64::from(i.wrapping_mul(2_654_435_761) % 1_000_000);
                let left = (i % 7 != 0).then_some(entered + i64::from(i % 13) * 600 + 60);
                TraceVisit { person: i * 31 % 200, venue: i * 17 % 40, entered, left }
            })
            .collect();
        let categories = (0..40).map(|v| VenueCategory::ALL[v % VenueCategory::ALL.len()]).collect();
        let index = TraceIndex::build(&visits, 200, categories).unwrap();
        let rules = CompiledRules::new(&RuleSet::china_2022());
        // Every third person from a different start, and a person the index does not know.
        let mut sources: Vec<(u32, i64)> =
            (0..200).step_by(3).map(|p| (p, start + i64::from(p) * 4_000)).collect();
        sources.push((500, start));
        let until = start + 800_000;

        let mut staging = Staging::default();
        index.source_windows(&sources, until, &rules, &mut staging);
        let view = IndexView::from(&index);
        let one_at_a_time: Vec<Window> = sources
            .iter()
            .flat_map(|&(person, from)| view.windows_of(person, (from, until), &rules).map(|(_, w)| w))
            .collect();
        assert!(one_at_a_time.len() > 300, "{} windows", one_at_a_time.len());
        assert_eq!(staging.windows, one_at_a_time);

        staging.min_overlaps = (0..one_at_a_time.len()).map(|k| [1, 600, 900][k % 3]).collect();
        let mut staged = Vec::new();
        index.overlaps_many(&rules, &mut staging, |k, w, visit| staged.push((k, w.through, visit)));
        let mut expected = Vec::new();
        for (k, w) in one_at_a_time.iter().enumerate() {
            let min_overlap = staging.min_overlaps[k];
            index.overlaps(w.venue, (w.from, w.to), min_overlap, &rules, |visit| {
                expected.push((k, w.through, visit))
            });
        }
        assert!(expected.len() > 300, "{} overlaps", expected.len());
        assert_eq!(staged, expected);
    }
}
