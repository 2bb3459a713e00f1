//! The trace: from cases to close contacts (overlap with a case at a venue), secondary contacts (overlap with
//! a close contact after their first exposure) and same-day companions, with evidence, de-duplicated across
//! cases with tier priority: case > close > secondary > companion.

use crate::fast_map::{PersonMap, PersonSet};
use crate::index::{TraceIndex, VisitView};
use crate::rules::{CompiledRules, RuleSet, category_slot};

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
    Companion,
    Secondary,
    Close,
}

impl Tier {
    pub fn code(self) -> &'static str {
        match self {
            Tier::Close => "close",
            Tier::Secondary => "secondary",
            Tier::Companion => "companion",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Tier::Close => "密切接触者",
            Tier::Secondary => "次密切接触者",
            Tier::Companion => "时空伴随者",
        }
    }
}

/// Why a person is a contact: the earliest exposure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub venue: u32,
    /// The case (close contacts, companions) or close contact (secondary contacts) they were with.
    pub through: u32,
    /// The contact's own visit.
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

impl Evidence {
    fn key(&self) -> (i64, u32, u32, u32) {
        (self.from, self.venue, self.through, self.visit.position)
    }
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

fn note(found: &mut PersonMap<Contact>, person: u32, tier: Tier, evidence: Evidence) {
    found
        .entry(person)
        .and_modify(|c| {
            c.exposures += 1;
            if evidence.key() < c.evidence.key() {
                c.evidence = evidence;
            }
        })
        .or_insert(Contact { person, tier, evidence, exposures: 1 });
}

/// The source's visits that can expose others: entered before `until`, still there after `from`; each with
/// its exposure interval `[max(entered, from), ends + buffer)`.
fn exposing_visits<'a>(
    index: &'a TraceIndex,
    rules: &'a CompiledRules,
    person: u32,
    from: i64,
    until: i64,
) -> impl Iterator<Item = (VisitView, i64, i64)> + 'a {
    index
        .visits_of(person, rules)
        .take_while(move |v| v.entered < until)
        .filter(move |v| v.ends > from)
        .map(move |v| (v, v.entered.max(from), v.ends + rules.buffer_secs))
}

/// Everyone at `visit`'s venue together with the source during `[from, to)` for at least the category's
/// minimum overlap, other than the source and those `skip` says.
fn overlapping<'a>(
    index: &'a TraceIndex,
    rules: &'a CompiledRules,
    source: u32,
    (visit, from, to): (VisitView, i64, i64),
    skip: impl Fn(u32) -> bool + 'a,
) -> impl Iterator<Item = Evidence> + 'a {
    let slot = index.category(visit.venue).map_or(0, category_slot);
    let min_overlap = rules.min_overlap_secs[slot];
    index.candidates(visit.venue, from, to, rules).filter_map(move |c| {
        let start = c.entered.max(from);
        let overlap = c.ends.min(to) - start;
        (overlap >= min_overlap && c.person != source && !skip(c.person)).then_some(Evidence {
            venue: visit.venue,
            through: source,
            visit: c,
            source_from: from,
            source_to: to,
            from: start,
            overlap_secs: overlap,
        })
    })
}

/// Traces `cases` under `rules`. Close contacts are taken to be isolated at `now` (the end of the secondary
/// window); `utc_offset_secs` places the local day of the companion rule.
pub fn trace(
    index: &TraceIndex,
    rules: &RuleSet,
    cases: &[Case],
    now: i64,
    utc_offset_secs: i32,
) -> TraceResult {
    let compiled = CompiledRules::new(rules);
    let r = &compiled;
    let case_set: PersonSet = cases.iter().map(|c| c.person).collect();
    let is_case = |p: u32| case_set.contains(&p);
    let mut close = PersonMap::default();
    let mut companions = PersonMap::default();
    let offset = i64::from(utc_offset_secs);
    for case in cases {
        let infectious_from = case.onset - r.lookback_secs;
        for exposing in exposing_visits(index, r, case.person, infectious_from, case.isolated_at) {
            for e in overlapping(index, r, case.person, exposing, is_case) {
                note(&mut close, e.visit.person, Tier::Close, e);
            }
            if rules.companions {
                let visit = exposing.0;
                let day = (visit.entered + offset).div_euclid(86_400) * 86_400 - offset;
                for c in index.entered_between(visit.venue, day, day + 86_400, r) {
                    if c.person != case.person && !is_case(c.person) {
                        let (source_from, source_to) = (exposing.1, exposing.2);
                        let e = Evidence {
                            venue: visit.venue,
                            through: case.person,
                            visit: c,
                            source_from,
                            source_to,
                            from: c.entered,
                            overlap_secs: 0,
                        };
                        note(&mut companions, c.person, Tier::Companion, e);
                    }
                }
            }
        }
    }
    let mut close: Vec<Contact> = close.into_values().collect();
    close.sort_unstable_by_key(|c| c.person);

    let mut secondary = PersonMap::default();
    if rules.hops >= 2 {
        let close_set: PersonSet = close.iter().map(|c| c.person).collect();
        let skip = |p: u32| case_set.contains(&p) || close_set.contains(&p);
        for contact in &close {
            for exposing in exposing_visits(index, r, contact.person, contact.evidence.from, now) {
                for e in overlapping(index, r, contact.person, exposing, skip) {
                    note(&mut secondary, e.visit.person, Tier::Secondary, e);
                }
            }
        }
    }
    let mut secondary: Vec<Contact> = secondary.into_values().collect();
    secondary.sort_unstable_by_key(|c| c.person);

    let taken: PersonSet = close.iter().chain(&secondary).map(|c| c.person).collect();
    let mut companions: Vec<Contact> =
        companions.into_values().filter(|c| !taken.contains(&c.person)).collect();
    companions.sort_unstable_by_key(|c| c.person);
    let mut case_list: Vec<u32> = case_set.into_iter().collect();
    case_list.sort_unstable();
    TraceResult { cases: case_list, close, secondary, companions }
}

/// A person's visits entered in `[from, to)`, in time order, with stays as `rules` sees them.
pub fn trajectory(index: &TraceIndex, rules: &RuleSet, person: u32, from: i64, to: i64) -> Vec<VisitView> {
    let compiled = CompiledRules::new(rules);
    index.visits_of(person, &compiled).filter(|v| v.entered >= from && v.entered < to).collect()
}
