//! The second hop's exposures, gathered by person range before they are noted: noted bucket by bucket, the
//! per-person state, bits and found entries one bucket touches span a few hundred kilobytes and stay in cache,
//! where noting them in the order the scans find them reads all over the state of a city of millions.

use crate::index::VisitView;

/// Persons per bucket: 32 768, whose state (4 bytes a person) and bits fit a core's L2 cache beside the
/// exposures streaming through.
const BUCKET_SHIFT: u32 = 15;

/// Set in [`Exposure::window`] for a visit whose stay was inferred.
const INFERRED: u32 = 1 << 31;

/// One source visit's exposure window at a venue (its stay plus the buffer, from the start of its
/// infectious period): shared by every exposure it caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub from: i64,
    pub to: i64,
    pub venue: u32,
    pub through: u32,
}

impl Window {
    /// The window in which a visit of `through` at `venue`, `(entered, ends)`, exposes others when their
    /// infectious period starts at `from`: from the later of its entry and `from` to its end plus `buffer`
    /// seconds; none if it ended by `from`.
    pub fn of(
        venue: u32,
        (entered, ends): (i64, i64),
        through: u32,
        from: i64,
        buffer: i64,
    ) -> Option<Window> {
        (ends > from).then(|| Window { from: entered.max(from), to: ends + buffer, venue, through })
    }
}

/// A contact's visit that overlapped a window, in 20 bytes: its times relative to the window's start.
#[derive(Debug, Clone, Copy)]
struct Exposure {
    person: u32,
    position: u32,
    /// Index into the windows, with [`INFERRED`].
    window: u32,
    entered_after_window: i32,
    stay_secs: u32,
}

/// The exposures gathered so far and the windows they refer to; [`PendingExposures::clear`] empties it and
/// keeps its buffers for the next trace.
#[derive(Debug, Default)]
pub(crate) struct PendingExposures {
    windows: Vec<Window>,
    buckets: Vec<Vec<Exposure>>,
    /// The exposures in all buckets: read after each batch of close contacts a trace scans alone, where
    /// summing the buckets (a city of 10⁸ persons has thousands) would cost more than a small batch's scan.
    exposures: usize,
}

impl PendingExposures {
    /// Starts `windows`, returning the number of the first: exposures in them are pushed with
    /// [`PendingExposures::push_in`].
    pub fn open_all(&mut self, windows: &[Window]) -> usize {
        let first = self.windows.len();
        self.windows.extend_from_slice(windows);
        first
    }

    /// An exposure in window number `window` (opened already). An overlapping visit enters between its
    /// venue's longest stay before the window's start and the window's end (a stay plus a buffer), and a stay
    /// is under 23 days (15 bits of minutes in the index), so the 32-bit fields hold them.
    #[inline(always)]
    pub fn push_in(&mut self, window: usize, visit: VisitView) {
        debug_assert!(window < INFERRED as usize, "fewer windows than the flag bit");
        let bucket = (visit.person >> BUCKET_SHIFT) as usize;
        if bucket >= self.buckets.len() {
            self.buckets.resize_with(bucket + 1, Vec::new);
        }
        let from = self.windows[window].from;
        self.exposures += 1;
        self.buckets[bucket].push(Exposure {
            person: visit.person,
            position: visit.position,
            window: window as u32 | if visit.inferred { INFERRED } else { 0 },
            entered_after_window: (visit.entered - from) as i32,
            stay_secs: (visit.ends - visit.entered) as u32,
        });
    }

    /// How many buckets hold (or held) exposures: bucket `b` holds the persons from [`first_person`]`(b)`.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The exposures gathered.
    pub fn len(&self) -> usize {
        self.exposures
    }

    /// The exposures in each bucket.
    pub fn bucket_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.buckets.iter().map(Vec::len)
    }

    /// Hands the exposures of `buckets` (persons ascending between buckets; those beyond the last held are
    /// empty) to `note`, each with its visit and window.
    pub fn each(&self, buckets: std::ops::Range<usize>, mut note: impl FnMut(VisitView, &Window)) {
        let end = buckets.end.min(self.buckets.len());
        for bucket in &self.buckets[buckets.start.min(end)..end] {
            for e in bucket {
                let window = &self.windows[(e.window & !INFERRED) as usize];
                let entered = window.from + i64::from(e.entered_after_window);
                let visit = VisitView {
                    position: e.position,
                    person: e.person,
                    venue: window.venue,
                    entered,
                    ends: entered + i64::from(e.stay_secs),
                    inferred: e.window & INFERRED != 0,
                };
                note(visit, window);
            }
        }
    }

    /// Forgets every exposure and window, keeping the buffers.
    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(Vec::clear);
        self.windows.clear();
        self.exposures = 0;
    }
}

/// The first person of bucket `bucket`.
pub(crate) fn first_person(bucket: usize) -> u32 {
    // Persons are u32, so there are at most 2^17 buckets and the first of the one after the last is 2^32:
    // u32::MAX then stands for "none", which only a person numbered u32::MAX could confuse.
    u32::try_from(bucket << BUCKET_SHIFT).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposures_come_back_whole_by_person_range() {
        let window = Window { from: 1_700_000_000, to: 1_700_003_600, venue: 7, through: 3 };
        let visit = |person: u32, entered: i64, inferred: bool| VisitView {
            position: person * 2,
            person,
            venue: 7,
            entered,
            ends: entered + 1_900_000,
            inferred,
        };
        // Times up to 22 days before the window (a long stay still there) and stays of 22 days come back.
        let late = visit(1 << 20, window.from + 60, true);
        let early = visit(5, window.from - 22 * 86_400, false);
        let other = visit(1 << 16, window.from, false);
        let mut pending = PendingExposures::default();
        let first = pending.open_all(&[window, Window { through: 4, ..window }]);
        pending.push_in(first, late);
        pending.push_in(first, early);
        pending.push_in(first + 1, other);
        let seen = |pending: &PendingExposures, buckets| {
            let mut seen = Vec::new();
            pending.each(buckets, |v, w| seen.push((v, w.through)));
            seen
        };
        assert_eq!(pending.buckets(), 33);
        assert_eq!(pending.len(), 3);
        let all = 0..pending.buckets();
        assert_eq!(
            seen(&pending, all.clone()),
            [(early, 3), (other, 4), (late, 3)],
            "by bucket, with windows"
        );
        assert_eq!(seen(&pending, 1..32), [(other, 4)], "the buckets asked for");
        assert_eq!(seen(&pending, 32..40), [(late, 3)], "those beyond the last are empty");
        assert_eq!(first_person(2), 1 << 16);
        pending.clear();
        assert_eq!(seen(&pending, all), []);
        assert_eq!(pending.len(), 0);
    }
}
