//! The second hop: every close contact exposes others from their first exposure until the trace's `now`.
//! Close contacts are scanned in batches whose reads of the index are staged together (see
//! [`crate::index::Staging`]); their exposures are gathered first and noted a range of persons at a time (see
//! [`crate::pending`]). The batches are scanned alone, one after another, until those scanned foresee enough
//! work (at the earliest after [`PROBE_MIN`] close contacts); from then a helper tracer scans the rest beside
//! this one (each taking the next batch not yet taken), then each side notes the exposures of its own range of
//! persons, both scans' alike, and holds its own contacts, the helper's all after this one's in person order:
//! they are listed one after the other, nothing is merged, and the answer is the same as on one thread.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Case, Found, Tier, Tracer};
use crate::pending::{PendingExposures, first_person};
use crate::person_bits::PersonBits;
use crate::rules::CompiledRules;

/// The close contacts of the first batch, scanned alone before their exposures may foresee the second hop's
/// work. A fixed share (an eighth, up to 64) scanned alone first took 3.5 ms of a 20 ms trace on one core; the
/// fourth close contact usually tells, and a wrong guess costs a light trace about 0.3 ms.
const PROBE_MIN: usize = 4;

/// Close contacts whose reads are staged together: their windows (a dozen to fifty each) keep many misses in
/// flight, and the scratch space of a batch stays in the core's cache.
const BATCH: usize = 64;

/// Close contacts a side of a shared second hop takes at a time: smaller, so both sides end together.
const SHARED_BATCH: usize = 16;

impl<'a> Tracer<'a> {
    /// Runs the second hop of a trace of `cases` whose first hop is done.
    pub(super) fn second_hop(&mut self, r: &CompiledRules, cases: &[Case], now: i64) {
        let close: Vec<(u32, i64)> =
            self.found.iter().filter(|f| f.tier == Tier::Close).map(|f| (f.visit.person, f.from)).collect();
        let mut settled = std::mem::take(&mut self.settled);
        let settled_persons = || cases.iter().map(|c| c.person).chain(close.iter().map(|c| c.0));
        settled_persons().for_each(|p| settled.insert(p));
        // Scanned alone, a batch after another (four close contacts first, then as many as were scanned,
        // up to a full batch), until those scanned foresee work enough for two (the exposures so far, times
        // close contacts over those scanned).
        let mut scanned = 0;
        let shared = loop {
            if scanned == close.len() {
                break false;
            }
            let batch = PROBE_MIN.max(scanned).min(BATCH).min(close.len() - scanned);
            self.expose_close(r, &close[scanned..scanned + batch], now, &settled);
            scanned += batch;
            if self.threads >= 2
                && scanned < close.len()
                && self.pending.len() * close.len() / scanned >= self.parallel_min_exposures
            {
                break true;
            }
        };
        if shared {
            self.second_hop_on_two_threads(r, &close[scanned..], now, &settled);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            self.note_pending(&pending, 0..pending.buckets());
            pending.clear();
            self.pending = pending;
        }
        settled_persons().for_each(|p| settled.remove(p));
        self.settled = settled;
    }

    /// Gathers the exposures `close` (close contacts, each with their first exposure) caused through their
    /// visits until `now`, each window's reads staged together with the others' (see
    /// [`crate::index::Staging`]), passing over the `settled` persons.
    fn expose_close(&mut self, r: &CompiledRules, close: &[(u32, i64)], now: i64, settled: &PersonBits) {
        let index = self.index;
        index.source_windows(close, now, r, &mut self.staging);
        let first = self.pending.open_all(&self.staging.windows);
        let pending = &mut self.pending;
        index.overlaps_many(r, &mut self.staging, |k, w, visit| {
            if visit.person != w.through && !settled.contains(visit.person) {
                pending.push_in(first + k, visit);
            }
        });
    }

    /// Notes the exposures of `pending`'s `buckets` as secondary.
    fn note_pending(&mut self, pending: &PendingExposures, buckets: std::ops::Range<usize>) {
        pending.each(buckets, |visit, w| {
            let from = visit.entered.max(w.from);
            self.note(Found {
                visit,
                source: (w.from, w.to),
                from,
                through: w.through,
                tier: Tier::Secondary,
            });
        });
    }

    /// Scans `close` on two threads (adding to what this tracer gathered already) and notes the exposures on
    /// two, each side a range of persons; `trace` then lists both sides' contacts (see `helper_from`).
    fn second_hop_on_two_threads(
        &mut self,
        r: &CompiledRules,
        close: &[(u32, i64)],
        now: i64,
        settled: &PersonBits,
    ) {
        let index = self.index;
        let mut helper = self.helper.take().unwrap_or_else(|| Box::new(Tracer::new(index)));
        helper.begin();
        // Each side takes the next batch of close contacts not yet taken: a side that starts late takes fewer.
        let next = AtomicUsize::new(0);
        let scan = |tracer: &mut Tracer<'a>| loop {
            let start = next.fetch_add(SHARED_BATCH, Ordering::Relaxed).min(close.len());
            let batch = &close[start..(start + SHARED_BATCH).min(close.len())];
            if batch.is_empty() {
                break;
            }
            tracer.expose_close(r, batch, now, settled);
        };
        rayon::join(|| scan(self), || scan(&mut helper));
        let (mut ours, mut theirs) = (std::mem::take(&mut self.pending), std::mem::take(&mut helper.pending));
        let split = balanced_split(&ours, &theirs);
        self.hand_over(first_person(split), &mut helper);
        let buckets = ours.buckets().max(theirs.buckets());
        rayon::join(
            || {
                self.note_pending(&ours, 0..split);
                self.note_pending(&theirs, 0..split);
            },
            || {
                helper.note_pending(&ours, split..buckets);
                helper.note_pending(&theirs, split..buckets);
            },
        );
        ours.clear();
        theirs.clear();
        (self.pending, helper.pending) = (ours, theirs);
        self.helper = Some(helper);
    }

    /// Gives `helper` the contacts found so far from person `from` on (close contacts, companions), which
    /// this tracer forgets: the helper notes the second hop's exposures of those persons, and holds them for
    /// the output.
    fn hand_over(&mut self, from: u32, helper: &mut Tracer<'a>) {
        self.helper_from = from;
        for (f, &(_, exposures)) in self.found.iter().zip(&self.hot) {
            if f.visit.person >= from {
                helper.note_many(*f, exposures);
                self.met.remove(f.visit.person);
            }
        }
    }
}

/// The bucket from which the second thread notes the exposures: halves the exposures of both scans.
fn balanced_split(ours: &PendingExposures, theirs: &PendingExposures) -> usize {
    let sizes: Vec<usize> = {
        let mut sizes: Vec<usize> = ours.bucket_sizes().collect();
        sizes.resize(ours.buckets().max(theirs.buckets()), 0);
        theirs.bucket_sizes().enumerate().for_each(|(b, n)| sizes[b] += n);
        sizes
    };
    let total: usize = sizes.iter().sum();
    let mut below = 0;
    for (bucket, n) in sizes.iter().enumerate() {
        if 2 * (below + n) > total {
            // This bucket goes to whichever side it leaves nearer half.
            return if 2 * below + n > total { bucket } else { bucket + 1 };
        }
        below += n;
    }
    sizes.len()
}
