//! A day in the life of a city's residents (`sentinel gen`): each resident is a worker, a pupil or a
//! retiree with anchor places near home (a bus line, a market, a supermarket, restaurants, shops, a mall)
//! and a workplace or school somewhere in the city, and goes through a weekday or a weekend scanning in at
//! some of them. Popular venues draw more people (anchors are picked with a skew toward the first venues of a
//! district), stays follow the category, and about a quarter of the scans have no check-out.
//!
//! Deterministic: the same residents, venues and seed give the same visits, day by day, so a city of 10⁸
//! visits is generated one day at a time in bounded memory. Pure: no clock, no I/O; the caller says which
//! day and where local midnight falls.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sentinel_core::entry::Channel;
use sentinel_core::venue::EntryMode;
use sentinel_core::{PersonId, RegionCode, VenueCategory, VenueId};
use sentinel_store::BulkVisit;
use sentinel_trace::TraceVisit;
use std::collections::HashMap;

use crate::zipf_city::VisitCity;
use crate::{DemoCity, DemoOptions};

/// What a resident does on a weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occupation {
    Worker,
    Pupil,
    Retired,
}

/// A resident's regular places; `None` where the city has no venue of that kind.
#[derive(Debug, Clone)]
struct Resident {
    id: PersonId,
    occupation: Occupation,
    work: Option<VenueId>,
    bus: Option<VenueId>,
    market: Option<VenueId>,
    supermarket: Option<VenueId>,
    restaurants: [Option<VenueId>; 3],
    shop: Option<VenueId>,
    fruit: Option<VenueId>,
    mall: Option<VenueId>,
    hospital: Option<VenueId>,
    hall: Option<VenueId>,
    sight: Option<VenueId>,
}

/// Venues by category, per district and city-wide.
struct Venues {
    by_district: HashMap<(VenueCategory, String), Vec<VenueId>>,
    by_city: HashMap<VenueCategory, Vec<VenueId>>,
}

impl Venues {
    fn new(venues: &[(VenueId, VenueCategory, RegionCode)]) -> Self {
        let (mut by_district, mut by_city) = (HashMap::new(), HashMap::new());
        for (id, category, region) in venues {
            by_district.entry((*category, district(region))).or_insert_with(Vec::new).push(*id);
            by_city.entry(*category).or_insert_with(Vec::new).push(*id);
        }
        Self { by_district, by_city }
    }

    /// A venue of the category, in the district when it has one; popular (first) venues more often.
    fn anchor(
        &self,
        category: VenueCategory,
        district: &str,
        near: bool,
        rng: &mut impl Rng,
    ) -> Option<VenueId> {
        let local = self.by_district.get(&(category, district.to_owned())).filter(|v| near && !v.is_empty());
        let list = local.or_else(|| self.by_city.get(&category))?;
        // u² puts half the picks in the first quarter of the list: a few places draw the crowds.
        let u: f64 = rng.r#gen();
        list.get(((u * u) * list.len() as f64) as usize).or(list.last()).copied()
    }
}

/// The district (区/县级市) of a region code: its first six digits.
fn district(region: &RegionCode) -> String {
    region.as_str().chars().take(6).collect()
}

/// The residents of a city with their places, ready to live day after day.
pub struct City {
    residents: Vec<Resident>,
    seed: u64,
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // SplitMix64 finaliser over the three: every (seed, person, day) gets its own stream.
    let mut z = seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl City {
    /// Gives each resident (id, home grid) an occupation and regular places among `venues`.
    pub fn new(
        persons: &[(PersonId, RegionCode)],
        venues: &[(VenueId, VenueCategory, RegionCode)],
        seed: u64,
    ) -> Self {
        use VenueCategory::*;
        let v = Venues::new(venues);
        let residents = persons
            .iter()
            .map(|(id, home)| {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, id.0 as u64, u64::MAX));
                let d = district(home);
                let occupation = match rng.gen_range(0..100) {
                    0..=14 => Occupation::Pupil,
                    15..=74 => Occupation::Worker,
                    _ => Occupation::Retired,
                };
                // Most work in their own district; a third commute across the city.
                let work = match occupation {
                    Occupation::Worker => v.anchor(Office, &d, rng.gen_ratio(2, 3), &mut rng),
                    Occupation::Pupil => v.anchor(School, &d, true, &mut rng),
                    Occupation::Retired => None,
                };
                let near = |c: VenueCategory, rng: &mut ChaCha8Rng| v.anchor(c, &d, true, rng);
                Resident {
                    id: *id,
                    occupation,
                    work,
                    bus: near(Bus, &mut rng),
                    market: near(WetMarket, &mut rng),
                    supermarket: near(Supermarket, &mut rng),
                    restaurants: [
                        near(Restaurant, &mut rng),
                        near(Restaurant, &mut rng),
                        near(Restaurant, &mut rng),
                    ],
                    shop: near(ConvenienceStore, &mut rng),
                    fruit: near(FruitShop, &mut rng),
                    mall: near(CommercialComplex, &mut rng),
                    hospital: near(Hospital, &mut rng),
                    hall: near(AdminHall, &mut rng),
                    sight: v.anchor(ScenicSpot, &d, false, &mut rng),
                }
            })
            .collect();
        Self { residents, seed }
    }

    pub fn residents(&self) -> usize {
        self.residents.len()
    }

    /// The visits of one local day, whose midnight is `midnight` (UTC), in resident order.
    pub fn day(&self, date: NaiveDate, midnight: DateTime<Utc>) -> Vec<BulkVisit> {
        let day_number = date.num_days_from_ce() as u64;
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let mut out = Vec::with_capacity(self.residents.len() * 7 / 10);
        for r in &self.residents {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, r.id.0 as u64, day_number));
            let mut day = Day { resident: r, midnight, rng: &mut rng, out: &mut out };
            if weekend { day.weekend() } else { day.weekday() }
        }
        out
    }
}

/// Minutes of a stay by category: (shortest, longest).
fn stay(category: VenueCategory) -> (i64, i64) {
    use VenueCategory::*;
    match category {
        Office => (480, 570),
        School => (420, 500),
        Bus => (10, 40),
        WetMarket => (15, 50),
        Supermarket => (20, 45),
        Restaurant => (40, 90),
        CommercialComplex => (60, 180),
        ConvenienceStore | FruitShop => (3, 10),
        Hospital => (60, 180),
        ScenicSpot => (90, 240),
        AdminHall => (20, 60),
        TourBoat => (40, 70),
        Residential => (5, 15),
    }
}

struct Day<'a, R: Rng> {
    resident: &'a Resident,
    midnight: DateTime<Utc>,
    rng: &'a mut R,
    out: &'a mut Vec<BulkVisit>,
}

impl<R: Rng> Day<'_, R> {
    /// With probability `p`, a scan at `venue` entering within `[from, to)` minutes after midnight.
    /// Returns the minute the stay ends.
    fn go(
        &mut self,
        p: f64,
        venue: Option<VenueId>,
        category: VenueCategory,
        from: i64,
        to: i64,
    ) -> Option<i64> {
        let venue = venue?;
        if !self.rng.gen_bool(p) {
            return None;
        }
        let entered = self.rng.gen_range(from..to.max(from + 1)) * 60 + self.rng.gen_range(0..60);
        let (lo, hi) = stay(category);
        let stayed = self.rng.gen_range(lo * 60..=hi * 60);
        // About a quarter of scans are entry-only: nobody scans out of a shop.
        let left = self.rng.gen_ratio(3, 4).then_some(entered + stayed);
        let channel = match category.entry_mode() {
            EntryMode::Device => Channel::DeviceCode.code(),
            EntryMode::PlaceCode => Channel::SelfScan.code(),
        };
        let at = |secs: i64| (self.midnight.timestamp() + secs) * 1000;
        self.out.push(BulkVisit {
            person_id: self.resident.id,
            venue_id: venue,
            channel,
            entered_at_ms: at(entered),
            left_at_ms: left.map(at),
        });
        Some((entered + stayed) / 60)
    }

    fn restaurant(&mut self) -> Option<VenueId> {
        let i = self.rng.gen_range(0..3);
        self.resident.restaurants[i]
    }

    fn weekday(&mut self) {
        use VenueCategory::*;
        let r = self.resident;
        match r.occupation {
            Occupation::Worker => {
                let start = self.rng.gen_range(7 * 60..9 * 60);
                self.go(0.2, r.bus, Bus, start - 40, start - 15);
                let end = self.go(0.45, r.work, Office, start, start + 20).unwrap_or(18 * 60);
                self.go(0.15, r.bus, Bus, end, end + 20);
                let lunch = self.restaurant();
                self.go(0.08, lunch, Restaurant, 11 * 60 + 30, 12 * 60 + 30);
                let dinner = self.restaurant();
                self.go(0.1, dinner, Restaurant, 18 * 60 + 30, 20 * 60);
                self.go(0.08, r.supermarket, Supermarket, 18 * 60 + 30, 21 * 60);
                self.go(0.06, r.shop, ConvenienceStore, 7 * 60, 22 * 60);
            }
            Occupation::Pupil => {
                let end = self.go(0.35, r.work, School, 7 * 60 + 20, 8 * 60).unwrap_or(16 * 60);
                self.go(0.08, r.shop, ConvenienceStore, end, end + 60);
                self.go(0.05, r.fruit, FruitShop, end, end + 90);
            }
            Occupation::Retired => {
                self.go(0.4, r.market, WetMarket, 6 * 60 + 30, 9 * 60);
                self.go(0.2, r.supermarket, Supermarket, 9 * 60, 17 * 60);
                self.go(0.1, r.fruit, FruitShop, 9 * 60, 18 * 60);
                self.go(0.04, r.hospital, Hospital, 8 * 60, 11 * 60);
                self.go(0.02, r.hall, AdminHall, 9 * 60, 16 * 60);
                self.go(0.08, r.bus, Bus, 8 * 60, 16 * 60);
            }
        }
    }

    fn weekend(&mut self) {
        use VenueCategory::*;
        let r = self.resident;
        self.go(0.25, r.market, WetMarket, 7 * 60, 10 * 60);
        self.go(0.2, r.supermarket, Supermarket, 10 * 60, 20 * 60);
        let mall = self.go(0.22, r.mall, CommercialComplex, 10 * 60, 19 * 60);
        let lunch = self.restaurant();
        self.go(0.12, lunch, Restaurant, 11 * 60 + 30, 13 * 60);
        let dinner = self.restaurant();
        self.go(0.15, dinner, Restaurant, mall.unwrap_or(18 * 60), mall.unwrap_or(18 * 60) + 90);
        self.go(0.05, r.sight, ScenicSpot, 9 * 60, 14 * 60);
        self.go(0.1, r.bus, Bus, 9 * 60, 18 * 60);
        self.go(0.06, r.shop, ConvenienceStore, 8 * 60, 22 * 60);
    }
}

/// A city of visits for the trace benchmark from this model: the demo city's districts and grids with
/// `venues` venues spread over them, `persons` residents at random grids, `days` days from `start` (Unix
/// seconds of a local midnight). Persons and venues are numbered densely from 0.
pub fn visit_city(persons: u32, venues: u32, days: u32, start: i64, seed: u64) -> VisitCity {
    let per_district = (venues as usize / crate::suzhou::DISTRICTS.len()).max(1);
    let demo = DemoCity::generate(DemoOptions {
        seed,
        persons: 0,
        venues_per_district: per_district,
        ..Default::default()
    });
    let grids: Vec<&RegionCode> =
        demo.regions.iter().map(|r| &r.code).filter(|c| c.as_str().len() == 15).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, u64::MAX, u64::MAX));
    let homes: Vec<(PersonId, RegionCode)> = (0..persons)
        .map(|i| (PersonId(i64::from(i)), grids[rng.gen_range(0..grids.len())].clone()))
        .collect();
    let places: Vec<(VenueId, VenueCategory, RegionCode)> = demo
        .venues
        .iter()
        .enumerate()
        .map(|(i, v)| (VenueId(i as i64), v.category, v.region_code.clone()))
        .collect();
    let city = City::new(&homes, &places, seed);
    drop((homes, places));
    let mut visits = Vec::new();
    for d in 0..days {
        let midnight = start + i64::from(d) * 86_400;
        // Noon UTC after a local midnight falls on that local date for any offset within ±12 h.
        let Some(noon) = DateTime::from_timestamp(midnight + 12 * 3600, 0) else { continue };
        let Some(at) = DateTime::from_timestamp(midnight, 0) else { continue };
        visits.extend(city.day(noon.date_naive(), at).into_iter().map(|v| {
            TraceVisit::from_millis(v.person_id.0 as u32, v.venue_id.0 as u32, v.entered_at_ms, v.left_at_ms)
        }));
    }
    VisitCity {
        visits,
        categories: demo.venues.iter().map(|v| v.category).collect(),
        end: start + i64::from(days) * 86_400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn city(seed: u64) -> City {
        let persons: Vec<_> = (1..=2000)
            .map(|i| (PersonId(i), rc(if i % 2 == 0 { "320508001001001" } else { "320506001001001" })))
            .collect();
        let mut venues = Vec::new();
        for (i, c) in VenueCategory::ALL.iter().enumerate() {
            for k in 0..4 {
                let id = (i * 10 + k + 1) as i64;
                venues.push((
                    VenueId(id),
                    *c,
                    rc(if k % 2 == 0 { "320508001001001" } else { "320506001001001" }),
                ));
            }
        }
        City::new(&persons, &venues, seed)
    }

    #[test]
    fn days_are_deterministic_and_look_like_a_city() {
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let midnight = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap();
        let (a, b) = (city(7).day(monday, midnight), city(7).day(monday, midnight));
        assert_eq!(a, b);
        assert_ne!(a, city(8).day(monday, midnight));
        let per_person = a.len() as f64 / 2000.0;
        assert!((0.3..1.2).contains(&per_person), "{per_person} visits a person a day");
        let checked_out = a.iter().filter(|v| v.left_at_ms.is_some()).count() as f64 / a.len() as f64;
        assert!((0.65..0.85).contains(&checked_out), "{checked_out}");
        for v in &a {
            assert!(v.entered_at_ms >= midnight.timestamp_millis() - 3_600_000);
            assert!(v.entered_at_ms < midnight.timestamp_millis() + 86_400_000);
            assert!(v.left_at_ms.is_none_or(|l| l > v.entered_at_ms));
        }
        // A weekend day differs in kind: malls, not offices.
        let saturday = city(7).day(monday + chrono::Duration::days(5), midnight + chrono::Duration::days(5));
        // Venue ids are category index × 10 + 1…4 (see `city`).
        let of = |c: VenueCategory| (c.index() as i64 * 10 + 1)..=(c.index() as i64 * 10 + 4);
        let (offices, schools) = (of(VenueCategory::Office), of(VenueCategory::School));
        let office = |vs: &[BulkVisit]| {
            vs.iter().filter(|v| offices.contains(&v.venue_id.0) || schools.contains(&v.venue_id.0)).count()
        };
        assert!(office(&a) > 100 && office(&saturday) == 0, "offices and schools on weekdays only");
    }

    #[test]
    fn a_visit_city_numbers_persons_and_venues_densely() {
        let city = visit_city(3000, 400, 2, 1_713_110_400, 3);
        assert!(city.categories.len() >= 400);
        assert!(city.visits.len() > 1500, "{}", city.visits.len());
        assert!(city.visits.iter().all(|v| v.person < 3000 && (v.venue as usize) < city.categories.len()));
        assert!(city.visits.iter().all(|v| v.entered >= 1_713_110_400 - 3600 && v.entered < city.end));
        assert_eq!(city.visits, visit_city(3000, 400, 2, 1_713_110_400, 3).visits);
    }
}
