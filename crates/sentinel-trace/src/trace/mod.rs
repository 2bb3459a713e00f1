//! The trace: from cases to close contacts (overlap with a case at a venue), secondary contacts (overlap with
//! a close contact after their first exposure) and same-day companions, with evidence, de-duplicated across
//! cases with tier priority: case > close > secondary > companion.
//!
//! Each person's state lives in one array indexed by person number, valid where a bit says the trace has
//! met them (the bits stay in cache, the array need not; a first meeting only writes to it), so a
//! trace touches only the persons it finds and a [`Tracer`] reuses its arrays from case to case.

use rayon::prelude::*;

use crate::index::{Staging, VisitView};
use crate::layered::IndexView;
use crate::pending::PendingExposures;
use crate::person_bits::PersonBits;
use crate::prefetch::prefetch;
use crate::rules::{CompiledRules, RuleSet};

mod second_hop;

/// A case to trace. Times are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub person: u32,
    /// Onset of symptoms, or the sampling time of an asymptomatic case; the lookback counts back from here.
    pub onset: i64,
    /// When the case was isolated: visits entered from then on do not count.
    pub isolated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    // The order is the priority, and the discriminant is the standing kept per person (a case is 3).
    Companion = 0,
    Secondary = 1,
    Close = 2,
}

impl Tier {
    /// By priority, highest first.
    pub const ALL: [Tier; 3] = [Tier::Close, Tier::Secondary, Tier::Companion];

    pub fn from_code(code: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Tier::Close => "close",
            Tier::Secondary => "secondary",
            Tier::Companion => "companion",
        }
    }
}

/// Why a person is a contact: the earliest exposure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// The case (close contacts, companions) or close contact (secondary contacts) they were with.
    pub through: u32,
    /// The contact's own visit, at the venue where the exposure happened.
    pub visit: VisitView,
    /// The source's exposure interval at the venue: its stay plus the buffer, from the start of its
    /// infectious period (a case's lookback, a close contact's first exposure).
    pub source_from: i64,
    pub source_to: i64,
    /// When the exposure began (companions: the contact's entry).
    pub from: i64,
    /// Seconds together (0 for companions).
    pub overlap_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub person: u32,
    pub tier: Tier,
    /// The earliest exposure (by start, then venue, source and visit).
    pub evidence: Evidence,
    /// How many exposures of this tier were found.
    pub exposures: u32,
}

/// Contacts by tier, each list sorted by person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceResult {
    pub cases: Vec<u32>,
    pub close: Vec<Contact>,
    pub secondary: Vec<Contact>,
    pub companions: Vec<Contact>,
}

impl TraceResult {
    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.close.iter().chain(&self.secondary).chain(&self.companions)
    }

    /// The contacts of `tier`, in person order.
    pub fn tier(&self, tier: Tier) -> &[Contact] {
        match tier {
            Tier::Close => &self.close,
            Tier::Secondary => &self.secondary,
            Tier::Companion => &self.companions,
        }
    }

    fn tier_mut(&mut self, tier: Tier) -> &mut Vec<Contact> {
        match tier {
            Tier::Close => &mut self.close,
            Tier::Secondary => &mut self.secondary,
            Tier::Companion => &mut self.companions,
        }
    }

    /// The same result with every evidence visit's position set to 0: positions depend on how an index is
    /// laid out, so results of two layouts of the same visits (one index, or a pair) compare equal without.
    pub fn without_positions(mut self) -> Self {
        for c in self.close.iter_mut().chain(&mut self.secondary).chain(&mut self.companions) {
            c.evidence.visit.position = 0;
        }
        self
    }
}

/// A person's standing in the current trace, kept in the top bits of their slot.
const CASE: u32 = 3;
const SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << SHIFT) - 1;

/// An exposure found by a scan, before it becomes [`Evidence`]: the contact's visit is kept whole, so
/// the evidence needs no second read of the index. 64 bytes, aligned to a cache line: unaligned, most sat
/// across two lines, and the output's reads (prefetched one line each) waited on the second.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Found {
    visit: VisitView,
    source: (i64, i64),
    from: i64,
    through: u32,
    tier: Tier,
}

// A field more would double it (the alignment rounds it up to 128 bytes).
const _: () = assert!(std::mem::size_of::<Found>() == 64);

impl Found {
    fn key(&self) -> (i64, u32, u32, u32) {
        (self.from, self.visit.venue, self.through, self.visit.position)
    }

    fn evidence(&self) -> Evidence {
        Evidence {
            through: self.through,
            visit: self.visit,
            source_from: self.source.0,
            source_to: self.source.1,
            from: self.from,
            overlap_secs: match self.tier {
                Tier::Companion => 0,
                _ => self.visit.ends.min(self.source.1) - self.from,
            },
        }
    }
}

/// Reusable state for tracing one index: per person a bit (met in this trace) and a slot.
pub struct Tracer<'a> {
    index: IndexView<'a>,
    /// `standing << SHIFT | index into found`, for the persons in `met`.
    state: Vec<u32>,
    /// The persons the current trace has met (contacts, and cases and others `mark`ed).
    met: PersonBits,
    /// The persons marked but not found, to forget with the found ones at the next trace.
    marked: Vec<u32>,
    /// The contacts of the current trace; a slot points here.
    found: Vec<Found>,
    /// Beside each found contact, the start of its earliest exposure and its number of exposures: the part
    /// every repeated exposure reads and writes, kept small so it stays in cache.
    hot: Vec<(i64, u32)>,
    /// During the second hop, one bit per person: a case or close contact, whom no secondary exposure can
    /// change. Checked before the person's state (a bit, not a word, so it stays in cache): about two
    /// thirds of the second hop's exposures land on such persons. Clear outside the second hop.
    settled: PersonBits,
    /// The second hop's exposures, gathered to be noted by person range.
    pending: PendingExposures,
    /// The windows of the close contacts the second hop scans together, and its scratch space.
    staging: Staging,
    /// A second tracer sharing the second hop on another core (made on first use).
    helper: Option<Box<Tracer<'a>>>,
    /// From this person on, the helper holds the contacts of the current trace (`u32::MAX`: none); those
    /// handed to it are still in `found` here, stale, with their bits in `met` cleared.
    helper_from: u32,
    threads: usize,
    parallel_min_exposures: usize,
    /// A tier of the output is listed in pieces of at least this many contacts.
    list_piece_min: usize,
}

/// Below this many secondary exposures foreseen the second hop is not worth a second thread: handing work to
/// a parked pool thread and back three times cost about 0.3 ms here (a 0.1 ms case took 0.4 ms), two threads
/// gave no clear gain on ~75 000 exposures (a 3–4 ms trace) and about a quarter on ~270 000.
const PARALLEL_MIN_EXPOSURES: usize = 100_000;

/// How far ahead of a scattered read its cache line is asked for (in reads).
const PREFETCH_AHEAD: usize = 16;

/// From one contact per this many persons, contacts are put in order by a pass over the persons met (a
/// sequential read of a bit a person) instead of a sort.
const DENSE_SCAN_RATIO: usize = 128;

impl<'a> Tracer<'a> {
    pub fn new(index: impl Into<IndexView<'a>>) -> Self {
        let index = index.into();
        let persons = index.person_count();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Tracer {
            index,
            state: vec![0; persons],
            met: PersonBits::new(persons),
            marked: Vec::new(),
            settled: PersonBits::new(persons),
            pending: PendingExposures::default(),
            staging: Staging::default(),
            found: Vec::new(),
            hot: Vec::new(),
            helper: None,
            helper_from: u32::MAX,
            threads,
            parallel_min_exposures: PARALLEL_MIN_EXPOSURES,
            list_piece_min: PARALLEL_LIST_MIN,
        }
    }

    /// Uses at most `threads` threads (at least one); by default, as many as the machine has cores.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Shares the second hop with a second thread from this many secondary exposures foreseen (default
    /// 100 000: below it a thread costs more than it saves). Close contacts are scanned alone, a batch at a
    /// time (four first), until those scanned foresee them.
    pub fn with_parallel_threshold(mut self, exposures: usize) -> Self {
        self.parallel_min_exposures = exposures.max(1);
        self
    }

    /// Lists a tier of the output on more than one thread from twice this many contacts (default 8 192:
    /// about 0.1 ms of work a piece), in at most as many pieces as the tracer has threads.
    pub fn with_parallel_listing(mut self, contacts: usize) -> Self {
        self.list_piece_min = contacts.max(1);
        self
    }

    /// Bytes of the per-person state (4 and an eighth a person, and an eighth for the second hop's settled
    /// persons; a helper, made when a second hop first takes two threads, has its own).
    pub fn state_bytes(&self) -> usize {
        self.state.len() * 4 + self.met.bytes() + self.settled.bytes()
    }

    fn begin(&mut self) {
        // Forget the last trace's persons: one by one when they were few for the city, all at once otherwise.
        if (self.found.len() + self.marked.len()) * 64 < self.state.len() {
            self.found.iter().for_each(|f| self.met.remove(f.visit.person));
            self.marked.iter().for_each(|&p| self.met.remove(p));
        } else {
            self.met.clear();
        }
        self.marked.clear();
        self.found.clear();
        self.hot.clear();
        self.helper_from = u32::MAX;
    }

    /// Makes `person` a case of this trace: no exposure changes their standing, and they are not listed.
    fn mark_case(&mut self, person: u32) {
        if let Some(state) = self.state.get_mut(person as usize) {
            *state = CASE << SHIFT;
            self.met.insert(person);
            self.marked.push(person);
        }
    }

    /// Records an exposure of `tier`: a person of a higher standing keeps it, a lower one is raised (and
    /// their exposures counted afresh), the same one keeps the earliest evidence.
    #[inline(always)]
    fn note(&mut self, f: Found) {
        self.note_many(f, 1);
    }

    /// [`Tracer::note`] for `n` exposures whose earliest is `f` (a contact handed over to a helper).
    #[inline(always)]
    fn note_many(&mut self, f: Found, n: u32) {
        let person = f.visit.person;
        let bits = f.tier as u32;
        if self.met.contains(person) {
            let slot = self.state[person as usize];
            let (held, at) = (slot >> SHIFT, (slot & INDEX_MASK) as usize);
            if held > bits {
                return;
            }
            if held < bits {
                self.found[at] = f;
                self.hot[at] = (f.from, n);
                self.state[person as usize] = (bits << SHIFT) | at as u32;
            } else {
                let hot = &mut self.hot[at];
                hot.1 += n;
                if f.from < hot.0 || (f.from == hot.0 && f.key() < self.found[at].key()) {
                    hot.0 = f.from;
                    self.found[at] = f;
                }
            }
        } else {
            // Only a write to the person's state: no wait for its cache line.
            self.met.insert(person);
            self.state[person as usize] = (bits << SHIFT) | self.found.len() as u32;
            self.found.push(f);
            self.hot.push((f.from, n));
        }
    }

    /// Notes the close contacts of `source`, a case, through its visits entered before `until` and still
    /// there after `from`, each extended by the buffer (see [`crate::pending::Window::of`]), and its
    /// same-day companions when `companions`.
    fn expose_case(&mut self, r: &CompiledRules, source: u32, (from, until): (i64, i64), companions: bool) {
        let index = self.index;
        let offset = r.utc_offset;
        for (v, w) in index.windows_of(source, (from, until), r) {
            let (venue, window) = (v.venue, (w.from, w.to));
            let min_overlap = index.min_overlap(venue, r);
            index.overlaps(venue, window, min_overlap, r, |visit| {
                if visit.person != source {
                    let from = visit.entered.max(window.0);
                    self.note(Found { visit, source: window, from, through: source, tier: Tier::Close });
                }
            });
            if companions {
                let day = (v.entered + offset).div_euclid(86_400) * 86_400 - offset;
                index.entered_between(venue, (day, day + 86_400), r, |visit| {
                    if visit.person != source {
                        let from = visit.entered;
                        self.note(Found {
                            visit,
                            source: window,
                            from,
                            through: source,
                            tier: Tier::Companion,
                        });
                    }
                });
            }
        }
    }

    /// Traces `cases` under `rules`. Close contacts are taken to be isolated at `now` (the end of the
    /// secondary window); `utc_offset_secs` places the local day of the companion rule.
    pub fn trace(&mut self, rules: &RuleSet, cases: &[Case], now: i64, utc_offset_secs: i32) -> TraceResult {
        let mut r = CompiledRules::new(rules);
        r.utc_offset = i64::from(utc_offset_secs);
        self.begin();
        for case in cases {
            self.mark_case(case.person);
        }
        for case in cases {
            let window = (case.onset.saturating_sub(r.lookback_secs), case.isolated_at);
            self.expose_case(&r, case.person, window, rules.companions);
        }
        if rules.hops >= 2 {
            self.second_hop(&r, cases, now);
        }
        let mut cases: Vec<u32> = cases.iter().map(|c| c.person).collect();
        cases.sort_unstable();
        cases.dedup();
        let mut result = TraceResult { cases, ..Default::default() };
        match self.helper.take() {
            Some(helper) if self.helper_from != u32::MAX => {
                // The helper's contacts come after ours in person order.
                let (ours, theirs) = rayon::join(|| self.slots_by_tier(), || helper.slots_by_tier());
                self.list_contacts([(&*self, &ours), (&*helper, &theirs)], &mut result);
                self.helper = Some(helper);
            }
            helper => {
                self.helper = helper;
                let ours = self.slots_by_tier();
                self.list_contacts([(&*self, &ours), (&*self, &Default::default())], &mut result);
            }
        }
        result
    }

    /// The contact in slot `at` of `found`.
    fn contact(&self, at: u32) -> Contact {
        let (f, exposures) = (&self.found[at as usize], self.hot[at as usize].1);
        Contact { person: f.visit.person, tier: f.tier, evidence: f.evidence(), exposures }
    }

    /// The slots of the contacts this tracer holds, by tier ([`Tier`]'s discriminant), each in person
    /// order. When the contacts are many for the city, one pass over the bits of the persons met (in person
    /// order already) is cheaper than sorting them.
    fn slots_by_tier(&self) -> [Vec<u32>; 3] {
        if self.found.len() * DENSE_SCAN_RATIO >= self.state.len() {
            self.slots_by_scan()
        } else {
            self.slots_by_sort()
        }
    }

    fn slots_by_scan(&self) -> [Vec<u32>; 3] {
        let mut tiers: [Vec<u32>; 3] = Default::default();
        for person in self.met.iter() {
            let slot = self.state[person as usize];
            // A case's standing (`CASE`, 3) is beyond the three tiers: cases are met but not listed.
            if let Some(tier) = tiers.get_mut((slot >> SHIFT) as usize) {
                tier.push(slot & INDEX_MASK);
            }
        }
        tiers
    }

    fn slots_by_sort(&self) -> [Vec<u32>; 3] {
        // Sort small keys, not contacts: (tier, person, slot) packed into one u64. Those handed to the helper
        // are its to list.
        let mut keys: Vec<u64> = self
            .found
            .iter()
            .enumerate()
            .filter(|(_, f)| f.visit.person < self.helper_from)
            .map(|(at, f)| u64::from(f.tier as u32) << 62 | u64::from(f.visit.person) << 30 | at as u64)
            .collect();
        keys.sort_unstable();
        let mut tiers: [Vec<u32>; 3] = Default::default();
        for key in keys {
            tiers[(key >> 62) as usize].push((key & u64::from(INDEX_MASK)) as u32);
        }
        tiers
    }
}

/// A tier is listed in pieces of at least this many contacts (about 0.1 ms of work; waking a parked pool
/// thread took ~15 µs here).
const PARALLEL_LIST_MIN: usize = 8_192;

/// The contacts in `slots` of `tracer`'s found, to be listed on the threads of the pool.
fn side<'s>(tracer: &'s Tracer<'_>, slots: &'s [u32]) -> impl IndexedParallelIterator<Item = Contact> + 's {
    (0..slots.len()).into_par_iter().map(move |k| tracer.contact_ahead(slots, k))
}

impl Tracer<'_> {
    /// The contact in the `k`th of `slots`, asking for the lines of the one [`PREFETCH_AHEAD`] further.
    #[inline]
    fn contact_ahead(&self, slots: &[u32], k: usize) -> Contact {
        // The slots are scattered over `found`: ask for the lines a few contacts ahead.
        if let Some(&ahead) = slots.get(k + PREFETCH_AHEAD) {
            prefetch(&self.found[ahead as usize]);
            prefetch(&self.hot[ahead as usize]);
        }
        self.contact(slots[k])
    }

    /// Lists the contacts of both sides (`slots` by tier of each tracer, the second's persons after the
    /// first's) into `result`, each tier in person order, written in place. A contact with its evidence is over
    /// 80 bytes: listing each side into its own vector and appending the second's to the first's took 2.3 ms of
    /// the 5.2 ms that listing 164 000 contacts took. With more than one thread, a long tier is cut into at
    /// most as many pieces as this tracer has threads, listed on the pool's; else the pool is not touched.
    fn list_contacts(&self, sides: [(&Tracer, &[Vec<u32>; 3]); 2], result: &mut TraceResult) {
        for tier in Tier::ALL {
            let out = result.tier_mut(tier);
            let [(a, a_slots), (b, b_slots)] = sides;
            let (a_slots, b_slots) = (&a_slots[tier as usize], &b_slots[tier as usize]);
            let len = a_slots.len() + b_slots.len();
            if self.threads >= 2 && len >= 2 * self.list_piece_min {
                let piece = self.list_piece_min.max(len.div_ceil(self.threads));
                out.par_extend(side(a, a_slots).chain(side(b, b_slots)).with_min_len(piece));
            } else {
                out.reserve_exact(len);
                out.extend((0..a_slots.len()).map(|k| a.contact_ahead(a_slots, k)));
                out.extend((0..b_slots.len()).map(|k| b.contact_ahead(b_slots, k)));
            }
        }
    }
}

/// Traces `cases` with a fresh [`Tracer`] (see [`Tracer::trace`]); keep a tracer to trace many.
pub fn trace<'a>(
    index: impl Into<IndexView<'a>>,
    rules: &RuleSet,
    cases: &[Case],
    now: i64,
    utc_offset_secs: i32,
) -> TraceResult {
    Tracer::new(index).trace(rules, cases, now, utc_offset_secs)
}

/// A person's visits entered in `[from, to)`, in time order, with stays as `rules` sees them.
pub fn trajectory<'a>(
    index: impl Into<IndexView<'a>>,
    rules: &RuleSet,
    person: u32,
    from: i64,
    to: i64,
) -> Vec<VisitView> {
    let compiled = CompiledRules::new(rules);
    index.into().visits_of(person, &compiled).filter(|v| v.entered >= from && v.entered < to).collect()
}

#[cfg(test)]
mod tests {
    use sentinel_core::VenueCategory;

    use super::*;
    use crate::index::{TraceIndex, TraceVisit};

    /// 60 persons (numbered `0, stride, 2 × stride…`) at 3 venues through one day: close, secondary and
    /// companion contacts all found.
    fn small_city(persons: u32, stride: u32) -> TraceIndex {
        let visits: Vec<TraceVisit> = (0..240u32)
            .map(|i| {
                let entered = 1_700_000_000 + i64::from(i * 7 % 40) * 1800;
                let left = (i % 5 != 0).then_some(entered + 3600);
                TraceVisit { person: i * 13 % 60 * stride, venue: i % 3, entered, left }
            })
            .collect();
        let categories = vec![VenueCategory::WetMarket, VenueCategory::Restaurant, VenueCategory::Office];
        TraceIndex::build(&visits, persons, categories).unwrap()
    }

    const NOW: i64 = 1_700_100_000;

    fn case(person: u32) -> Case {
        Case { person, onset: NOW, isolated_at: NOW }
    }

    /// A tracer forgets each trace's persons before the next (one by one in a city where they were few, all
    /// at once otherwise), and so does its helper: traces in a row equal traces by fresh tracers.
    #[test]
    fn a_reused_tracer_traces_as_a_fresh_one() {
        let rules = RuleSet::china_2022();
        for (persons, stride, threads) in
            [(60, 1, 1), (20_000, 1, 1), (60, 1, 2), (20_000, 1, 2), (70_000, 1117, 2)]
        {
            let index = small_city(persons, stride);
            // With two threads, a second hop shares its work with the helper (reused too) once four close contacts
            // or more were scanned and an exposure found; with persons spread over three ranges, the helper holds
            // some of them. Both ways of ordering the contacts agree on each side.
            let tracer = || Tracer::new(&index).with_threads(threads).with_parallel_threshold(1);
            let mut reused = tracer();
            let mut helper_listed = false;
            for person in [0, 7, 0, 59, 30, 7].map(|p| p * stride) {
                let fresh = tracer().trace(&rules, &[case(person)], NOW, 0);
                let again = reused.trace(&rules, &[case(person)], NOW, 0);
                assert_eq!(again, fresh, "person {person} of {persons}, {threads} threads");
                helper_listed |= reused.helper_from < 60 * stride;
                let sides = std::iter::once(&reused).chain(reused.helper.as_deref());
                for side in sides.filter(|_| reused.helper_from != u32::MAX) {
                    assert_eq!(side.slots_by_scan(), side.slots_by_sort(), "person {person} of {persons}");
                }
            }
            assert_eq!(helper_listed, stride > 1, "{persons} persons, stride {stride}");
        }
    }

    /// Both ways of ordering the contacts (a pass over the state array, a sort) agree on each tier.
    #[test]
    fn contacts_come_out_in_the_same_order_scanned_or_sorted() {
        let index = small_city(60, 1);
        let mut tracer = Tracer::new(&index);
        let result = tracer.trace(&RuleSet::china_2022(), &[case(0)], NOW, 8 * 3600);
        assert!(!result.close.is_empty() && !result.secondary.is_empty() && !result.companions.is_empty());
        assert_eq!(tracer.slots_by_scan(), tracer.slots_by_sort());
        for tier in Tier::ALL {
            assert!(result.tier(tier).windows(2).all(|w| w[0].person < w[1].person));
        }
    }
}
