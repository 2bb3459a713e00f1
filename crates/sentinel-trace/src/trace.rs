//! The trace: from cases to close contacts (overlap with a case at a venue), secondary contacts (overlap with
//! a close contact after their first exposure) and same-day companions, with evidence, de-duplicated across
//! cases with tier priority: case > close > secondary > companion.
//!
//! Each person's state lives in one array indexed by person number and stamped with the trace's epoch, so a
//! trace touches only the persons it finds and a [`Tracer`] reuses its arrays from case to case.

use sentinel_core::VenueCategory;

use crate::index::VisitView;
use crate::layered::IndexView;
use crate::person_bits::PersonBits;
use crate::rules::{CompiledRules, RuleSet};

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
}

/// A person's standing in the current trace, kept in the top bits of their slot.
const CASE: u32 = 3;
const SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << SHIFT) - 1;

/// An exposure found by a scan, before it becomes [`Evidence`].
#[derive(Clone, Copy)]
struct Found {
    position: u32,
    person: u32,
    venue: u32,
    through: u32,
    source: (i64, i64),
    from: i64,
    overlap: i64,
}

impl Found {
    fn key(&self) -> (i64, u32, u32, u32) {
        (self.from, self.venue, self.through, self.position)
    }
}

/// Reusable state for tracing one index: per person an epoch stamp and a slot (one word, one cache miss).
pub struct Tracer<'a> {
    index: IndexView<'a>,
    /// `epoch << 32 | standing << SHIFT | index into found`.
    state: Vec<u64>,
    epoch: u32,
    /// The contacts of the current trace; a slot points here.
    found: Vec<(Tier, Found)>,
    /// Beside each found contact, the start of its earliest exposure and its number of exposures: the part
    /// every repeated exposure reads and writes, kept small so it stays in cache.
    hot: Vec<(i64, u32)>,
    /// During the second hop, one bit per person: a case or close contact, whom no secondary exposure can
    /// change. Checked before the person's state (a bit, not a word, so it stays in cache): about two
    /// thirds of the second hop's exposures land on such persons. Clear outside the second hop.
    settled: PersonBits,
    /// A second tracer sharing the second hop on another core (made on first use).
    helper: Option<Box<Tracer<'a>>>,
    threads: usize,
    parallel_min_close: usize,
}

/// Below this many close contacts the second hop is not worth a second thread.
const PARALLEL_MIN_CLOSE: usize = 128;

impl<'a> Tracer<'a> {
    pub fn new(index: impl Into<IndexView<'a>>) -> Self {
        let index = index.into();
        let persons = index.person_count();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Tracer {
            index,
            state: vec![0; persons],
            settled: PersonBits::new(persons),
            epoch: 0,
            found: Vec::new(),
            hot: Vec::new(),
            helper: None,
            threads,
            parallel_min_close: PARALLEL_MIN_CLOSE,
        }
    }

    /// Uses at most `threads` threads (at least one); by default, as many as the machine has cores.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Shares the second hop with a second thread from this many close contacts on (default 128: below it a
    /// thread costs more than it saves).
    pub fn with_parallel_threshold(mut self, close_contacts: usize) -> Self {
        self.parallel_min_close = close_contacts.max(1);
        self
    }

    /// Bytes of the per-person state (8 a person).
    pub fn state_bytes(&self) -> usize {
        self.state.len() * 8
    }

    fn begin(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.state.fill(0);
            self.epoch = 1;
        }
        self.found.clear();
        self.hot.clear();
    }

    /// Gives `person` a standing that no exposure of a lower tier can change (cases; close contacts in a
    /// helper, which keeps no entry for them).
    fn mark(&mut self, person: u32, bits: u32) {
        let p = person as usize;
        if p < self.state.len() {
            self.state[p] = u64::from(self.epoch) << 32 | u64::from(bits << SHIFT);
        }
    }

    /// Records an exposure of `tier`: a person of a higher standing keeps it, a lower one is raised (and
    /// their exposures counted afresh), the same one keeps the earliest evidence.
    #[inline(always)]
    fn note(&mut self, tier: Tier, f: Found) {
        self.note_many(tier, f, 1);
    }

    /// [`Tracer::note`] for `n` exposures whose earliest is `f` (merging a helper's findings).
    #[inline(always)]
    fn note_many(&mut self, tier: Tier, f: Found, n: u32) {
        let p = f.person as usize;
        let bits = tier as u32;
        let epoch = u64::from(self.epoch) << 32;
        let state = self.state[p];
        if state & !u64::from(u32::MAX) == epoch {
            let slot = state as u32;
            let (held, at) = (slot >> SHIFT, (slot & INDEX_MASK) as usize);
            if held > bits {
                return;
            }
            if held < bits {
                self.found[at] = (tier, f);
                self.hot[at] = (f.from, n);
                self.state[p] = epoch | u64::from((bits << SHIFT) | at as u32);
            } else {
                let hot = &mut self.hot[at];
                hot.1 += n;
                if f.from < hot.0 || (f.from == hot.0 && f.key() < self.found[at].1.key()) {
                    hot.0 = f.from;
                    self.found[at].1 = f;
                }
            }
        } else {
            self.state[p] = epoch | u64::from((bits << SHIFT) | self.found.len() as u32);
            self.found.push((tier, f));
            self.hot.push((f.from, n));
        }
    }

    /// Scans the exposures `source` caused through its visits entered before `until` and still there after
    /// `from`, each extended by the buffer; `tier` is what those exposed become.
    fn expose(
        &mut self,
        r: &CompiledRules,
        source: u32,
        (from, until): (i64, i64),
        tier: Tier,
        companions: bool,
        settled: Option<&PersonBits>,
    ) {
        let index = self.index;
        let unsettled = |person: u32| settled.is_none_or(|bits| !bits.contains(person));
        let offset = r.utc_offset;
        for v in index.visits_of(source, r).take_while(|v| v.entered < until) {
            if v.ends <= from {
                continue;
            }
            let window = (v.entered.max(from), v.ends + r.buffer_secs);
            let slot = index.category(v.venue).map_or(0, VenueCategory::index);
            let venue = v.venue;
            let min_overlap = r.min_overlap_secs[slot];
            index.overlaps(venue, window, min_overlap, r, |position, person, entered, _, overlap| {
                if person != source && unsettled(person) {
                    let from = entered.max(window.0);
                    let found =
                        Found { position, person, venue, through: source, source: window, from, overlap };
                    self.note(tier, found);
                }
            });
            if companions {
                let day = (v.entered + offset).div_euclid(86_400) * 86_400 - offset;
                index.entered_between(venue, (day, day + 86_400), |position, person, entered| {
                    if person != source {
                        let found = Found {
                            position,
                            person,
                            venue,
                            through: source,
                            source: window,
                            from: entered,
                            overlap: 0,
                        };
                        self.note(Tier::Companion, found);
                    }
                });
            }
        }
    }

    /// The second hop: every close contact exposes others from their first exposure until `now`. With more
    /// than one core and enough close contacts, a helper tracer takes every other close contact on a second
    /// thread and its findings are merged (earliest evidence, exposures added): the same answer either way.
    fn second_hop(&mut self, r: &CompiledRules, cases: &[Case], now: i64) {
        let close: Vec<(u32, i64)> =
            self.found.iter().filter(|f| f.0 == Tier::Close).map(|f| (f.1.person, f.1.from)).collect();
        let mut settled = std::mem::take(&mut self.settled);
        let marked = || cases.iter().map(|c| c.person).chain(close.iter().map(|c| c.0));
        marked().for_each(|p| settled.insert(p));
        self.expose_close(r, cases, &close, now, &settled);
        marked().for_each(|p| settled.remove(p));
        self.settled = settled;
    }

    /// The second hop's exposures by `close`, with `settled` marking the cases and close contacts.
    fn expose_close(
        &mut self,
        r: &CompiledRules,
        cases: &[Case],
        close: &[(u32, i64)],
        now: i64,
        settled: &PersonBits,
    ) {
        if self.threads < 2 || close.len() < self.parallel_min_close {
            for &(person, first_exposure) in close {
                self.expose(r, person, (first_exposure, now), Tier::Secondary, false, Some(settled));
            }
            return;
        }
        let index = self.index;
        let mut helper = self.helper.take().unwrap_or_else(|| Box::new(Tracer::new(index)));
        helper.threads = 1;
        helper.begin();
        for case in cases {
            helper.mark(case.person, CASE);
        }
        for &(person, _) in close {
            helper.mark(person, Tier::Close as u32);
        }
        std::thread::scope(|scope| {
            let theirs = scope.spawn(|| {
                for &(person, first_exposure) in close.iter().skip(1).step_by(2) {
                    helper.expose(r, person, (first_exposure, now), Tier::Secondary, false, Some(settled));
                }
            });
            for &(person, first_exposure) in close.iter().step_by(2) {
                self.expose(r, person, (first_exposure, now), Tier::Secondary, false, Some(settled));
            }
            // A panic on the helper's thread is a bug; let it surface here.
            if let Err(panic) = theirs.join() {
                std::panic::resume_unwind(panic);
            }
        });
        for (&(tier, f), &(_, n)) in helper.found.iter().zip(&helper.hot) {
            self.note_many(tier, f, n);
        }
        self.helper = Some(helper);
    }

    /// Traces `cases` under `rules`. Close contacts are taken to be isolated at `now` (the end of the
    /// secondary window); `utc_offset_secs` places the local day of the companion rule.
    pub fn trace(&mut self, rules: &RuleSet, cases: &[Case], now: i64, utc_offset_secs: i32) -> TraceResult {
        let mut r = CompiledRules::new(rules);
        r.utc_offset = i64::from(utc_offset_secs);
        self.begin();
        for case in cases {
            self.mark(case.person, CASE);
        }
        for case in cases {
            let window = (case.onset.saturating_sub(r.lookback_secs), case.isolated_at);
            self.expose(&r, case.person, window, Tier::Close, rules.companions, None);
        }
        if rules.hops >= 2 {
            self.second_hop(&r, cases, now);
        }
        let mut result = TraceResult::default();
        let mut cases: Vec<u32> = cases.iter().map(|c| c.person).collect();
        cases.sort_unstable();
        cases.dedup();
        result.cases = cases;
        // Sort small keys, not contacts: (tier, person, position in `found`) packed into one u64.
        let mut order: Vec<u64> = self
            .found
            .iter()
            .enumerate()
            .map(|(i, (tier, f))| u64::from(*tier as u32) << 62 | u64::from(f.person) << 30 | i as u64)
            .collect();
        order.sort_unstable();
        for key in order {
            let at = (key & u64::from(INDEX_MASK)) as usize;
            let ((tier, f), (_, exposures)) = (self.found[at], self.hot[at]);
            let evidence = Evidence {
                through: f.through,
                visit: self.index.visit_at(f.position, f.venue, &r),
                source_from: f.source.0,
                source_to: f.source.1,
                from: f.from,
                overlap_secs: f.overlap,
            };
            let contact = Contact { person: f.person, tier, evidence, exposures };
            match tier {
                Tier::Close => result.close.push(contact),
                Tier::Secondary => result.secondary.push(contact),
                Tier::Companion => result.companions.push(contact),
            }
        }
        result
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
