//! The demo city: regions down to grids, venues of every category and residents, all from one seed.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sentinel_core::{PersonName, PhoneNumber, RegionCode, ResidentIdNumber, Role, Scope, VenueCategory};
use sentinel_store::{NewPerson, NewVenue, Region};

use crate::names::full_name;
use crate::suzhou::{self, COMMUNITY_STEMS, DISTRICTS, District, OTHER_AREAS};

/// How big a demo city to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub seed: u64,
    pub persons: usize,
    pub venues_per_district: usize,
    pub communities_per_street: usize,
    pub grids_per_community: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            persons: 3000,
            venues_per_district: 32,
            communities_per_street: 3,
            grids_per_community: 3,
        }
    }
}

/// A console user the demo creates, sharing the demo password.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub username: &'static str,
    pub role: Role,
    pub scope: Scope,
    pub display_name: &'static str,
}

#[derive(Debug, Clone)]
pub struct DemoCity {
    pub regions: Vec<Region>,
    pub venues: Vec<NewVenue>,
    pub persons: Vec<NewPerson>,
    pub users: Vec<DemoUser>,
}

/// The reference day of generated data: the notice's date. Birth dates lie before it.
pub fn reference_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 4, 29).expect("valid date")
}

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("generated region codes are valid")
}

fn region(code_str: &str, zh: String, en: Option<String>) -> Region {
    Region { code: code(code_str), name_zh: zh, name_en: en }
}

const GRID_NAMES: [&str; 9] = [
    "第一网格",
    "第二网格",
    "第三网格",
    "第四网格",
    "第五网格",
    "第六网格",
    "第七网格",
    "第八网格",
    "第九网格",
];

/// A grid of the city with where it lies, for placing venues and homes.
struct Place<'a> {
    grid: RegionCode,
    district: &'a District,
    street: &'static str,
    community: String,
}

impl DemoCity {
    pub fn generate(opts: DemoOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let (regions, places) = regions(&opts);
        let mut venues: Vec<NewVenue> = DISTRICTS
            .iter()
            .flat_map(|d| {
                let local: Vec<&Place> = places.iter().filter(|p| p.district.code == d.code).collect();
                venues_of(d, &local, opts.venues_per_district, &mut rng)
            })
            .collect();
        let mut sequences = Sequences::new();
        let persons = (0..opts.persons).map(|_| person(&places, &mut sequences, &mut rng)).collect();
        // The two grid workers serve the first grid of the first two communities.
        let first_grid = places[0].grid.clone();
        place_a_mall_in(&mut venues, &places[0]);
        let second_grid = places[opts.grids_per_community.min(places.len() - 1)].grid.clone();
        let users = vec![
            DemoUser {
                username: "grid1",
                role: Role::GridWorker,
                scope: Scope::Region(first_grid),
                display_name: "网格员（一）",
            },
            DemoUser {
                username: "grid2",
                role: Role::GridWorker,
                scope: Scope::Region(second_grid),
                display_name: "网格员（二）",
            },
            DemoUser {
                username: "tracer",
                role: Role::Investigator,
                scope: Scope::Region(code(suzhou::CITY.0)),
                display_name: "流调人员",
            },
            DemoUser {
                username: "command",
                role: Role::CommandCentre,
                scope: Scope::Region(code(suzhou::CITY.0)),
                display_name: "市指挥部",
            },
            DemoUser {
                username: "market",
                role: Role::Supervisor,
                scope: Scope::Category(VenueCategory::WetMarket),
                display_name: "市场监管局",
            },
            DemoUser {
                username: "door",
                role: Role::VenueStaff,
                scope: Scope::Region(code(suzhou::CITY.0)),
                display_name: "场所工作人员",
            },
            DemoUser {
                username: "auditor", role: Role::Auditor, scope: Scope::All, display_name: "审计员"
            },
        ];
        DemoCity { regions, venues, persons, users }
    }
}

/// Moves a shopping complex of `home`'s district into `home`'s grid unless it has one: the first demo
/// grid worker (`grid1`, who serves that grid) then covers a mall, and the gate walk-through `sentinel
/// demo` prints has a grid worker to hear that mall's alerts first. Nothing else moves, so the rest of the
/// seeded city is unchanged.
fn place_a_mall_in(venues: &mut [NewVenue], home: &Place) {
    let mall = |v: &NewVenue| v.category == VenueCategory::CommercialComplex;
    if venues.iter().any(|v| mall(v) && v.region_code == home.grid) {
        return;
    }
    let district = code(home.district.code);
    if let Some(v) = venues.iter_mut().find(|v| mall(v) && district.contains(&v.region_code)) {
        v.region_code = home.grid.clone();
        v.address =
            format!("苏州市{}{}{}路1号", home.district.name_zh, home.street, suzhou::stem(home.street));
    }
}

fn regions(opts: &DemoOptions) -> (Vec<Region>, Vec<Place<'static>>) {
    let mut regions = vec![
        region(suzhou::PROVINCE.0, suzhou::PROVINCE.1.into(), Some(suzhou::PROVINCE.2.into())),
        region(suzhou::CITY.0, suzhou::CITY.1.into(), Some(suzhou::CITY.2.into())),
    ];
    let mut places = Vec::new();
    for d in DISTRICTS {
        regions.push(region(d.code, d.name_zh.into(), Some(d.name_en.into())));
        for (si, street) in d.streets.iter().enumerate() {
            let street_code = format!("{}{:03}", d.code, si + 1);
            regions.push(region(&street_code, (*street).into(), None));
            let stem = suzhou::stem(street);
            for ci in 0..opts.communities_per_street {
                let community_code = format!("{street_code}{:03}", ci + 1);
                let suffix = if street.ends_with('镇') && ci % 2 == 1 { "村" } else { "社区" };
                let community =
                    format!("{stem}{}{suffix}", COMMUNITY_STEMS[(si * 5 + ci * 3) % COMMUNITY_STEMS.len()]);
                regions.push(region(&community_code, community.clone(), None));
                for (gi, grid_name) in GRID_NAMES.iter().enumerate().take(opts.grids_per_community) {
                    let grid_code = format!("{community_code}{:03}", gi + 1);
                    regions.push(region(&grid_code, format!("{community}{grid_name}"), None));
                    places.push(Place {
                        grid: code(&grid_code),
                        district: d,
                        street,
                        community: community.clone(),
                    });
                }
            }
        }
    }
    (regions, places)
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn venue_name(category: VenueCategory, d: &District, stem: &str, n: usize, rng: &mut impl Rng) -> String {
    use VenueCategory::*;
    let options: Vec<String> = match category {
        AdminHall => vec![format!("{stem}便民服务中心"), format!("{}政务服务中心{stem}分中心", d.name_zh)],
        CommercialComplex => vec![format!("{stem}广场"), format!("{stem}天街"), format!("{stem}商业中心")],
        WetMarket => vec![format!("{stem}农贸市场"), format!("{stem}菜市场")],
        Supermarket => vec![format!("{stem}生鲜超市"), format!("{stem}购物中心超市")],
        ScenicSpot => d.sights.iter().map(|s| (*s).to_owned()).collect(),
        ConvenienceStore => vec![format!("{stem}便利店（{n}号店）"), format!("邻里便利{stem}店")],
        Restaurant => vec![
            format!("{stem}面馆"),
            format!("{stem}小笼馆"),
            format!("{stem}家常菜馆"),
            format!("{stem}茶餐厅"),
        ],
        FruitShop => vec![format!("{stem}鲜果坊"), format!("{stem}水果店")],
        Bus => vec![format!("{}路公交车（苏E·{:05}）", 1 + n % 300, rng.gen_range(10000..99999))],
        TourBoat => vec![format!("{stem}游船{n}号")],
        Office => vec![format!("{stem}科技园{n}号楼"), format!("{stem}产业大厦")],
        School => vec![format!("{stem}实验小学"), format!("{stem}中学")],
        Hospital => vec![format!("{}人民医院", d.name_zh), format!("{stem}社区卫生服务中心")],
        Residential => vec![format!("{stem}花园"), format!("{stem}新村"), format!("{stem}家园")],
    };
    pick(rng, &options).clone()
}

fn venues_of(d: &District, places: &[&Place], count: usize, rng: &mut impl Rng) -> Vec<NewVenue> {
    let categories: Vec<VenueCategory> = VenueCategory::ALL
        .iter()
        .copied()
        .filter(|c| *c != VenueCategory::TourBoat || d.water)
        .filter(|c| *c != VenueCategory::ScenicSpot || !d.sights.is_empty())
        .collect();
    (0..count)
        .map(|n| {
            // Every category at least once, then in a city's proportions: small shops outnumber the rest, and
            // a large city has many schools and hospitals, not one per district.
            let category =
                if n < categories.len() { categories[n] } else { weighted_category(&categories, rng) };
            let place = pick(rng, places);
            let stem = suzhou::stem(place.street);
            NewVenue {
                name: venue_name(category, d, stem, n + 1, rng),
                category,
                region_code: place.grid.clone(),
                address: format!("苏州市{}{}{}路{}号", d.name_zh, place.street, stem, rng.gen_range(1..400)),
                lat: Some(d.lat + rng.gen_range(-0.04..0.04)),
                lon: Some(d.lon + rng.gen_range(-0.04..0.04)),
                capacity: Some(category_capacity(category, rng)),
            }
        })
        .collect()
}

/// Venues per thousand of each category in a city's register of places.
fn per_mille(category: VenueCategory) -> u32 {
    use VenueCategory::*;
    match category {
        Restaurant => 280,
        ConvenienceStore => 170,
        Office => 120,
        Residential => 100,
        FruitShop => 90,
        Supermarket => 70,
        Bus => 60,
        WetMarket => 40,
        CommercialComplex => 25,
        School => 12,
        Hospital => 6,
        AdminHall => 3,
        ScenicSpot => 2,
        TourBoat => 2,
    }
}

/// A category among `categories`, in a city's proportions.
pub(crate) fn weighted_category(categories: &[VenueCategory], rng: &mut impl Rng) -> VenueCategory {
    let total: u32 = categories.iter().map(|c| per_mille(*c)).sum();
    let mut at = rng.gen_range(0..total.max(1));
    for &c in categories {
        if at < per_mille(c) {
            return c;
        }
        at -= per_mille(c);
    }
    categories[0]
}

fn category_capacity(category: VenueCategory, rng: &mut impl Rng) -> i64 {
    use VenueCategory::*;
    let (lo, hi) = match category {
        ConvenienceStore | FruitShop => (5, 20),
        Restaurant => (20, 150),
        Bus => (40, 90),
        TourBoat => (20, 60),
        WetMarket | Supermarket | AdminHall => (100, 800),
        CommercialComplex | ScenicSpot | Hospital => (1000, 8000),
        Office | School => (200, 3000),
        Residential => (500, 5000),
    };
    rng.gen_range(lo..=hi)
}

/// The sequence numbers given out per (area, birth date): the part of an ID number that tells apart people
/// born the same day in the same place.
type Sequences = std::collections::HashMap<(&'static str, NaiveDate), u16>;

fn person(places: &[Place], sequences: &mut Sequences, rng: &mut impl Rng) -> NewPerson {
    let today = reference_day();
    let home = pick(rng, places);
    // Ages 0–89, skewed like a city's working population.
    let age = if rng.gen_ratio(1, 6) { rng.gen_range(0..18) } else { rng.gen_range(18..90) };
    let birth_year = today.year() - age - 1;
    let mut birth = NaiveDate::from_yo_opt(birth_year, rng.gen_range(1..=365)).unwrap_or(today);
    let area = if rng.gen_ratio(7, 10) { home.district.code } else { pick(rng, OTHER_AREAS) };
    // The next free sequence for that area and day (a day whose 999 are used up passes to the day before),
    // so two residents never share a number.
    let sequence = loop {
        let next = sequences.entry((area, birth)).or_insert(0);
        if *next < 999 {
            *next += 1;
            break *next;
        }
        birth = birth.pred_opt().unwrap_or(birth);
    };
    let id_number =
        ResidentIdNumber::from_parts(area, birth, sequence, today).expect("generated ID numbers are valid");
    let name = PersonName::parse(&full_name(rng)).expect("generated names are valid");
    // Young children and many elderly people have no phone of their own: the reason for paper codes.
    let has_phone = (12..75).contains(&age) || rng.gen_ratio(1, 3);
    let phone = has_phone.then(|| {
        let prefix = pick(
            rng,
            &[
                "138", "139", "135", "136", "137", "150", "151", "152", "157", "158", "159", "180", "181",
                "186", "187", "188", "189", "199",
            ],
        );
        PhoneNumber::parse(&format!("{prefix}{:08}", rng.gen_range(0..100_000_000))).expect("valid phone")
    });
    let address = format!(
        "苏州市{}{}{}{}幢{}室",
        home.district.name_zh,
        home.street,
        home.community,
        rng.gen_range(1..40),
        rng.gen_range(101..1805)
    );
    NewPerson { id_number, name, phone, address: Some(address), region_code: home.grid.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_demo_city_is_deterministic_and_complete() {
        // The demo's own size: enough people that numbers would collide if sequences were not kept per day.
        let opts = DemoOptions::default();
        assert!(opts.persons >= 3000);
        let a = DemoCity::generate(opts);
        let b = DemoCity::generate(opts);
        assert_eq!(a.persons, b.persons);
        assert_eq!(a.venues, b.venues);
        let c = DemoCity::generate(DemoOptions { seed: 2, ..opts });
        assert_ne!(a.persons, c.persons);

        let categories: HashSet<_> = a.venues.iter().map(|v| v.category).collect();
        assert_eq!(categories.len(), VenueCategory::ALL.len(), "every category appears");
        assert!(a.venues.len() >= 300);
        let ids: HashSet<_> = a.persons.iter().map(|p| p.id_number.as_str().to_owned()).collect();
        assert_eq!(ids.len(), a.persons.len(), "ID numbers are unique");
        let codes: HashSet<_> = a.regions.iter().map(|r| r.code.clone()).collect();
        for r in &a.regions {
            if let Some(parent) = r.code.parent().filter(|_| r.code.as_str() != suzhou::PROVINCE.0) {
                assert!(codes.contains(&parent), "{} has its parent", r.code);
            }
        }
        assert!(a.venues.iter().all(|v| codes.contains(&v.region_code)));
        assert!(a.persons.iter().all(|p| codes.contains(&p.region_code)));
        assert!(a.persons.iter().any(|p| p.phone.is_none()));
    }

    /// The gate walk-through needs a mall that the demo's first grid worker covers, for any seed.
    #[test]
    fn the_first_grid_worker_covers_a_mall() {
        for seed in 1..=12 {
            let city = DemoCity::generate(DemoOptions { seed, persons: 50, ..Default::default() });
            let Scope::Region(grid) = &city.users[0].scope else { panic!("grid1 covers a region") };
            assert_eq!(grid.level(), sentinel_core::RegionLevel::Grid);
            let malls: Vec<_> = city
                .venues
                .iter()
                .filter(|v| v.category == VenueCategory::CommercialComplex && v.region_code == *grid)
                .collect();
            assert!(!malls.is_empty(), "seed {seed}: no mall in {grid}");
            assert!(city.regions.iter().any(|r| r.code == *grid), "seed {seed}: {grid} is a seeded region");
        }
    }
}
