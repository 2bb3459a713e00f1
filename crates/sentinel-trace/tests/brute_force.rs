//! The trace against a brute-force reference that compares every pair of visits, on random small cities and
//! every rule set; and the edge cases by hand.

use proptest::prelude::*;
use sentinel_core::VenueCategory;
use sentinel_trace::{
    Case, IndexError, IndexView, LayeredIndex, RuleSet, Tier, TraceIndex, TraceVisit, Tracer, trace,
    trajectory,
};
use std::collections::BTreeMap;

/// A visit as the reference sees it: its interval under the rules.
#[derive(Debug, Clone, Copy)]
struct Stay {
    person: u32,
    venue: u32,
    entered: i64,
    ends: i64,
}

/// Stays by the written rule: a check-out rounds up to whole minutes; an entry-only scan gets the category's
/// default stay, cut at the person's next check-in (rounded down), where "next" orders by (entered, venue,
/// input order).
fn stays(visits: &[TraceVisit], categories: &[VenueCategory], rules: &RuleSet) -> Vec<Stay> {
    visits
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let minutes = match v.left {
                Some(left) => ((left - v.entered).max(0) + 59) / 60,
                None => {
                    let default = i64::from(rules.default_stay_minutes(categories[v.venue as usize]));
                    let me = (v.entered, v.venue, i);
                    let next = visits
                        .iter()
                        .enumerate()
                        .filter(|(j, w)| w.person == v.person && (w.entered, w.venue, *j) > me)
                        .map(|(_, w)| w.entered)
                        .min();
                    next.map_or(default, |n| ((n - v.entered) / 60).min(default))
                }
            };
            Stay {
                person: v.person,
                venue: v.venue,
                entered: v.entered,
                ends: v.entered + minutes.min(32_766) * 60,
            }
        })
        .collect()
}

/// person → (tier, earliest exposure start, exposures).
type Found = BTreeMap<u32, (Tier, i64, u32)>;

fn reference(
    visits: &[TraceVisit],
    categories: &[VenueCategory],
    rules: &RuleSet,
    cases: &[Case],
    now: i64,
    offset: i64,
) -> Found {
    let all = stays(visits, categories, rules);
    let buffer = i64::from(rules.buffer_after_minutes) * 60;
    let is_case = |p: u32| cases.iter().any(|c| c.person == p);
    let min_overlap =
        |venue: u32| (i64::from(rules.min_overlap_minutes(categories[venue as usize])) * 60).max(1);
    // Every exposing visit of `person`: entered before `until`, ending after `from`.
    let exposing = |person: u32, from: i64, until: i64| {
        all.iter()
            .filter(move |s| s.person == person && s.entered < until && s.ends > from)
            .map(move |s| (*s, s.entered.max(from), s.ends + buffer))
            .collect::<Vec<_>>()
    };
    let mut close: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
    let mut companions: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
    let bump = |m: &mut BTreeMap<u32, (i64, u32)>, p: u32, from: i64| {
        let e = m.entry(p).or_insert((from, 0));
        e.0 = e.0.min(from);
        e.1 += 1;
    };
    for case in cases {
        let lookback = i64::from(rules.lookback_days) * 86_400;
        for (source, from, to) in exposing(case.person, case.onset - lookback, case.isolated_at) {
            for other in &all {
                if other.venue != source.venue || other.person == case.person || is_case(other.person) {
                    continue;
                }
                let start = other.entered.max(from);
                if other.ends.min(to) - start >= min_overlap(source.venue) {
                    bump(&mut close, other.person, start);
                }
                let day = (source.entered + offset).div_euclid(86_400) * 86_400 - offset;
                if rules.companions && other.entered >= day && other.entered < day + 86_400 {
                    bump(&mut companions, other.person, other.entered);
                }
            }
        }
    }
    let mut secondary: BTreeMap<u32, (i64, u32)> = BTreeMap::new();
    if rules.hops >= 2 {
        for (&contact, &(first, _)) in &close {
            for (source, from, to) in exposing(contact, first, now) {
                for other in &all {
                    if other.venue != source.venue
                        || other.person == contact
                        || is_case(other.person)
                        || close.contains_key(&other.person)
                    {
                        continue;
                    }
                    let start = other.entered.max(from);
                    if other.ends.min(to) - start >= min_overlap(source.venue) {
                        bump(&mut secondary, other.person, start);
                    }
                }
            }
        }
    }
    let mut found = Found::new();
    for (tier, map) in [(Tier::Companion, companions), (Tier::Secondary, secondary), (Tier::Close, close)] {
        for (p, (from, n)) in map {
            found.insert(p, (tier, from, n));
        }
    }
    found
}

/// A tracer on two threads from the first exposure foreseen, listing a tier in pieces of 2 contacts: every
/// path the work can take between threads is taken.
fn on_two_threads<'a>(index: impl Into<IndexView<'a>>) -> Tracer<'a> {
    Tracer::new(index).with_threads(2).with_parallel_threshold(1).with_parallel_listing(2)
}

fn engine(
    visits: &[TraceVisit],
    categories: &[VenueCategory],
    rules: &RuleSet,
    cases: &[Case],
    now: i64,
    offset: i32,
) -> Found {
    let persons = visits.iter().map(|v| v.person + 1).max().unwrap_or(0).max(PERSONS);
    let index = TraceIndex::build(visits, persons, categories.to_vec()).unwrap();
    let result = on_two_threads(&index).trace(rules, cases, now, offset);
    let alone = Tracer::new(&index).with_threads(1).trace(rules, cases, now, offset);
    assert_eq!(result, alone, "one thread or two, the same answer");
    for tier in Tier::ALL {
        let list = result.tier(tier);
        assert!(list.iter().all(|c| c.tier == tier), "only {tier:?} contacts in its list");
        assert!(list.windows(2).all(|w| w[0].person < w[1].person), "{tier:?} in person order");
    }
    // The same visits as a big index with the later ones in a small one beside it (as the server keeps up
    // with new visits): the same answer, positions aside.
    for split in [visits.len() / 3, visits.len() * 9 / 10] {
        // The big index knows only the persons and venues of its own visits: later ones are new to it.
        let (early, late) = visits.split_at(split);
        let persons = early.iter().map(|v| v.person + 1).max().unwrap_or(0);
        let venues = early.iter().map(|v| v.venue as usize + 1).max().unwrap_or(0);
        let main = TraceIndex::build(early, persons, categories[..venues].to_vec()).unwrap();
        let layered = LayeredIndex::new(main.into(), late, categories.to_vec()).unwrap();
        assert_eq!(layered.stats().visits, visits.len());
        let pair = on_two_threads(&layered).trace(rules, cases, now, offset);
        assert_eq!(pair.without_positions(), result.clone().without_positions(), "split at {split}");
        for c in cases {
            let one = trajectory(&index, rules, c.person, i64::MIN, i64::MAX);
            let two = trajectory(&layered, rules, c.person, i64::MIN, i64::MAX);
            let at = |v: &[sentinel_trace::VisitView]| {
                v.iter().map(|x| (x.venue, x.entered, x.ends)).collect::<Vec<_>>()
            };
            assert_eq!(at(&one), at(&two));
        }
    }
    let mut found = Found::new();
    for c in result.contacts() {
        let e = &c.evidence;
        // The evidence is a real exposure: the contact's visit at that venue, the overlap as stated.
        assert_eq!(e.visit.person, c.person);

        if c.tier != Tier::Companion {
            assert_eq!(e.overlap_secs, e.visit.ends.min(e.source_to) - e.visit.entered.max(e.source_from));
        }
        let fresh = found.insert(c.person, (c.tier, e.from, c.exposures));
        assert!(fresh.is_none(), "a person listed twice: {}", c.person);
    }
    found
}

const BASE: i64 = 1_714_348_800; // 2024-04-29 00:00 UTC
/// Persons of the random cities are numbered below this.
const PERSONS: u32 = 64;

fn city() -> impl Strategy<Value = (Vec<TraceVisit>, Vec<VenueCategory>)> {
    city_of(24, 1..6, 3 * 86_400, 0..150)
}

/// A crowded city: few venues, one day, many persons at once, so the second hop has dozens of close contacts
/// (and runs on two threads).
fn crowded_city() -> impl Strategy<Value = (Vec<TraceVisit>, Vec<VenueCategory>)> {
    city_of(60, 1..3, 86_400, 200..400)
}

fn city_of(
    persons: u32,
    venues: std::ops::Range<usize>,
    span: i64,
    visits: std::ops::Range<usize>,
) -> impl Strategy<Value = (Vec<TraceVisit>, Vec<VenueCategory>)> {
    let categories = prop::collection::vec(prop::sample::select(VenueCategory::ALL), venues);
    categories.prop_flat_map(move |categories| {
        let venues = categories.len() as u32;
        let visit = (0..persons, 0..venues, 0..span, prop::option::weighted(0.6, -600..30_000i64)).prop_map(
            |(person, venue, t, stay)| TraceVisit {
                person,
                venue,
                entered: BASE + t,
                left: stay.map(|s| BASE + t + s),
            },
        );
        (prop::collection::vec(visit, visits.clone()), Just(categories))
    })
}

fn rules() -> impl Strategy<Value = RuleSet> {
    (
        prop::sample::select(RuleSet::presets()),
        0..40u16,
        0..90u16,
        1..=2u8,
        any::<bool>(),
        1..6u16,
        prop::option::of((prop::sample::select(VenueCategory::ALL), 1..600u16)),
    )
        .prop_map(|(preset, overlap, buffer, hops, companions, lookback, stay)| RuleSet {
            min_overlap_minutes: overlap,
            buffer_after_minutes: buffer,
            hops,
            companions,
            lookback_days: lookback,
            default_stay_by_category: stay.into_iter().collect(),
            ..preset
        })
}

fn cases() -> impl Strategy<Value = Vec<Case>> {
    prop::collection::vec(
        (0..24u32, 0..4 * 86_400i64, 0..2 * 86_400i64).prop_map(|(person, onset, isolated)| Case {
            person,
            onset: BASE + onset,
            isolated_at: BASE + onset + isolated,
        }),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_trace_finds_what_comparing_every_pair_finds(
        (visits, categories) in city(),
        rules in rules(),
        cases in cases(),
        late in 0..86_400i64,
        offset in prop::sample::select(vec![0i32, 8 * 3600, -5 * 3600]),
    ) {
        let now = BASE + 3 * 86_400 + late;
        let expected = reference(&visits, &categories, &rules, &cases, now, i64::from(offset));
        prop_assert_eq!(engine(&visits, &categories, &rules, &cases, now, offset), expected);
    }

    /// Persons numbered far apart (up to 66 000), so the second hop's exposures fall in several ranges of
    /// persons, which two threads share.
    #[test]
    fn crowded_cities_with_many_close_contacts((visits, categories) in crowded_city(), cases in cases()) {
        let spread = |person: u32| person * 1117;
        let visits: Vec<_> = visits.into_iter().map(|v| TraceVisit { person: spread(v.person), ..v }).collect();
        let cases: Vec<_> = cases.into_iter().map(|c| Case { person: spread(c.person), ..c }).collect();
        let now = BASE + 2 * 86_400;
        let rules = RuleSet::china_2022();
        let expected = reference(&visits, &categories, &rules, &cases, now, 8 * 3600);
        prop_assert_eq!(engine(&visits, &categories, &rules, &cases, now, 8 * 3600), expected);
    }

    #[test]
    fn every_preset_as_published((visits, categories) in city(), cases in cases()) {
        let now = BASE + 4 * 86_400;
        for rules in RuleSet::presets() {
            let expected = reference(&visits, &categories, &rules, &cases, now, 8 * 3600);
            prop_assert_eq!(engine(&visits, &categories, &rules, &cases, now, 8 * 3600), expected);
        }
    }
}

fn at(hour: i64, minute: i64) -> i64 {
    BASE + hour * 3600 + minute * 60
}

fn visit(person: u32, venue: u32, entered: i64, left: Option<i64>) -> TraceVisit {
    TraceVisit { person, venue, entered, left }
}

fn tiers(result: &sentinel_trace::TraceResult) -> Vec<(u32, &'static str)> {
    let mut t: Vec<_> = result.contacts().map(|c| (c.person, c.tier.code())).collect();
    t.sort_unstable();
    t
}

#[test]
fn edge_cases_by_hand() {
    use VenueCategory::*;
    let categories = vec![WetMarket, Restaurant, Supermarket];
    let rules = RuleSet { min_overlap_minutes: 10, ..RuleSet::china_2022() };
    let visits = vec![
        // The case at the market 23:30–00:20, across midnight (Beijing time 07:30–08:20 next day: use UTC here).
        visit(0, 0, at(23, 30), Some(at(24, 20))),
        // 1: arrives 00:05 the next day, no check-out: 30 min default → together 15 min before the case leaves.
        visit(1, 0, at(24, 5), None),
        // 2: no check-out, but checks in at the restaurant 2 minutes later: a 2-minute stay, not a contact.
        visit(2, 0, at(24, 0), None),
        visit(2, 1, at(24, 2), Some(at(25, 0))),
        // 3: at the market twice the same night; only the second time overlaps, and 5 min < 10 min alone,
        // but the case's buffer (30 min) makes it 35 min.
        visit(3, 0, at(20, 0), Some(at(20, 30))),
        visit(3, 0, at(24, 15), Some(at(24, 50))),
        // 4: a second case, at the market with case 0: a case, never a contact.
        visit(4, 0, at(23, 40), Some(at(24, 0))),
        // 5: the device's clock ran behind: check-out before entry counts as a zero stay.
        visit(5, 0, at(23, 45), Some(at(23, 40))),
        // 6: at the restaurant with close contact 2 after 2's exposure? 2 is no contact: nothing.
        visit(6, 1, at(24, 10), Some(at(24, 40))),
        // 7: at the restaurant with close contact 1 later that night → secondary.
        visit(1, 1, at(26, 0), Some(at(27, 0))),
        visit(7, 1, at(26, 30), Some(at(27, 30))),
        // 8: at the supermarket hours after the case, the same day: a companion, not a contact.
        visit(0, 2, at(10, 0), Some(at(10, 30))),
        visit(8, 2, at(14, 0), Some(at(14, 10))),
    ];
    let index = TraceIndex::build(&visits, 9, categories.clone()).unwrap();
    let cases = [
        Case { person: 0, onset: at(30, 0), isolated_at: at(30, 0) },
        Case { person: 4, onset: at(30, 0), isolated_at: at(30, 0) },
    ];
    let result = trace(&index, &rules, &cases, at(40, 0), 0);
    assert_eq!(result.cases, [0, 4]);
    assert_eq!(
        tiers(&result),
        [(1, "close"), (3, "close"), (5, "companion"), (7, "secondary"), (8, "companion")]
    );
    let three = result.close.iter().find(|c| c.person == 3).unwrap();
    assert_eq!((three.evidence.from, three.evidence.overlap_secs), (at(24, 15), 35 * 60));
    let one = result.close.iter().find(|c| c.person == 1).unwrap();
    assert_eq!(one.evidence.visit.ends, at(24, 35), "the default stay of a wet market is 30 minutes");
    assert!(one.evidence.visit.inferred);
    let seven = &result.secondary[0];
    assert_eq!((seven.evidence.through, seven.evidence.visit.venue), (1, 1));
    // Companions are same venue, same local day: 8 was at the supermarket the same day as the case.
    assert_eq!(result.companions.iter().map(|c| c.evidence.visit.venue).collect::<Vec<_>>(), [0, 2]);
    // One hop only: no secondary contacts.
    let one_hop = trace(&index, &RuleSet { hops: 1, ..rules.clone() }, &cases, at(40, 0), 0);
    assert!(one_hop.secondary.is_empty());
    let path = trajectory(&index, &rules, 0, at(0, 0), at(48, 0));
    assert_eq!(
        path.iter().map(|v| (v.venue, v.entered)).collect::<Vec<_>>(),
        [(2, at(10, 0)), (0, at(23, 30))]
    );
}

#[test]
fn an_index_takes_fourteen_bytes_a_visit_and_refuses_what_it_cannot_hold() {
    let visits: Vec<_> = (0..1000).map(|i| visit(i % 50, i % 7, at(0, i64::from(i)), None)).collect();
    let index = TraceIndex::build(&visits, 50, vec![VenueCategory::Bus; 7]).unwrap();
    let stats = index.stats();
    assert_eq!((stats.visits, stats.persons, stats.venues, stats.visit_bytes), (1000, 50, 7, 14_000));
    // Offsets: 8 venue offsets, a venue for each of 4 blocks of 256 positions and 51 person offsets of 4 bytes,
    // 7 categories and 2 × 7 stay bounds.
    assert_eq!(stats.total_bytes, 14_000 + 8 * 4 + 4 * 4 + 51 * 4 + 7 + 2 * 7 * 2);
    let bus = || vec![VenueCategory::Bus];
    assert!(matches!(
        TraceIndex::build(&[visit(0, 9, 0, None)], 1, bus()),
        Err(IndexError::UnknownVenue { venue: 9, .. })
    ));
    assert!(matches!(
        TraceIndex::build(&[visit(u32::MAX, 0, 0, None)], 10, bus()),
        Err(IndexError::UnknownPerson { person: u32::MAX, .. })
    ));
    let empty = TraceIndex::build(&[], 0, Vec::new()).unwrap();
    assert_eq!(
        trace(&empty, &RuleSet::china_2022(), &[Case { person: 3, onset: 0, isolated_at: 0 }], 0, 0).close,
        []
    );
}

#[test]
fn extreme_times_are_refused_or_traced_without_overflow() {
    for far in [i64::MIN, -1, 1 << 33, i64::MAX] {
        let refused = TraceIndex::build(&[visit(0, 0, far, None)], 1, vec![VenueCategory::Bus]);
        assert!(matches!(refused, Err(IndexError::OutOfWindow { .. })), "{far}");
    }
    let odd = [visit(0, 0, at(1, 0), Some(i64::MAX)), visit(1, 0, at(1, 5), Some(i64::MIN))];
    let index = TraceIndex::build(&odd, 2, vec![VenueCategory::Bus]).unwrap();
    let case = Case { person: 0, onset: i64::MIN, isolated_at: i64::MAX };
    let result = trace(&index, &RuleSet::china_2022(), &[case], i64::MAX, 0);
    assert_eq!(
        tiers(&result),
        [(1, "companion")],
        "a zero stay overlaps nobody; the same day makes a companion"
    );
}
