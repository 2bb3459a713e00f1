//! A city of visits for trace benchmarks ([`VisitCity`]), here from Zipf-like popularity alone: persons
//! visiting venues of every category (a few markets and malls draw a large share), entries between 07:00 and
//! 22:00 local time, stays around the category's default, and a fifth of check-outs missing. Deterministic by
//! seed. `mobility::visit_city` makes one from the daily mobility model of `sentinel gen` instead.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sentinel_core::VenueCategory;
use sentinel_trace::TraceVisit;

use crate::demo::weighted_category;

#[derive(Debug, Clone, Copy)]
pub struct ZipfCityOptions {
    pub persons: u32,
    pub venues: u32,
    pub days: u32,
    /// Mean visits per person per day.
    pub visits_per_day: f64,
    /// Zipf exponent of venue popularity.
    pub exponent: f64,
    /// Unix seconds of local midnight starting the first day.
    pub start: i64,
    pub seed: u64,
}

impl Default for ZipfCityOptions {
    fn default() -> Self {
        ZipfCityOptions {
            persons: 100_000,
            venues: 20_000,
            days: 14,
            visits_per_day: 0.88,
            exponent: 0.9,
            // 2024-04-15 00:00 in Beijing time.
            start: 1_713_110_400,
            seed: 1,
        }
    }
}

/// Visits as a trace index takes them, with the venues' categories.
pub struct VisitCity {
    pub visits: Vec<TraceVisit>,
    /// By dense venue number.
    pub categories: Vec<VenueCategory>,
    /// Unix seconds just after the last day.
    pub end: i64,
}

impl VisitCity {
    /// Visits of persons choosing venues by Zipf-like popularity alone (no homes, no routines).
    pub fn zipf(o: ZipfCityOptions) -> VisitCity {
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        // The demo city's register of places: the same proportions of categories.
        let categories: Vec<VenueCategory> =
            (0..o.venues).map(|_| weighted_category(VenueCategory::ALL, &mut rng)).collect();
        // Popularity: venue v has rank v (venue numbers carry no meaning), weight 1 / (rank + 1)^s.
        let mut cumulative = Vec::with_capacity(o.venues as usize);
        let mut sum = 0.0;
        for rank in 0..o.venues {
            sum += 1.0 / f64::from(rank + 1).powf(o.exponent);
            cumulative.push(sum);
        }
        let mut visits =
            Vec::with_capacity((f64::from(o.persons) * f64::from(o.days) * o.visits_per_day * 1.05) as usize);
        for day in 0..o.days {
            let midnight = o.start + i64::from(day) * 86_400;
            for person in 0..o.persons {
                // 0, 1, 2 or 3 visits with the requested mean (binomial over three tries).
                let n = (0..3).filter(|_| rng.gen_bool((o.visits_per_day / 3.0).min(1.0))).count();
                for _ in 0..n {
                    let x = rng.gen_range(0.0..sum);
                    let venue = cumulative.partition_point(|&c| c <= x).min(o.venues as usize - 1) as u32;
                    let entered = midnight + rng.gen_range(7 * 3600..22 * 3600);
                    let default = f64::from(categories[venue as usize].default_stay_minutes());
                    let left = rng
                        .gen_bool(0.8)
                        .then(|| entered + (default * rng.gen_range(0.3..1.7) * 60.0) as i64);
                    visits.push(TraceVisit { person, venue, entered, left });
                }
            }
        }
        VisitCity { visits, categories, end: o.start + i64::from(o.days) * 86_400 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_with_popular_venues() {
        let o = ZipfCityOptions { persons: 2000, venues: 500, days: 3, ..Default::default() };
        let a = VisitCity::zipf(o);
        let b = VisitCity::zipf(o);
        assert_eq!(a.visits, b.visits);
        let per_person_day = a.visits.len() as f64 / 6000.0;
        assert!((0.8..0.96).contains(&per_person_day), "{per_person_day}");
        let top = a.visits.iter().filter(|v| v.venue == 0).count();
        let tail = a.visits.iter().filter(|v| v.venue == 499).count();
        assert!(top > 20 * tail.max(1), "venue 0 draws far more than the last: {top} vs {tail}");
        assert!(a.visits.iter().all(|v| v.entered >= o.start && v.entered < a.end));
        let missing = a.visits.iter().filter(|v| v.left.is_none()).count() as f64 / a.visits.len() as f64;
        assert!((0.15..0.25).contains(&missing), "{missing}");
    }
}
