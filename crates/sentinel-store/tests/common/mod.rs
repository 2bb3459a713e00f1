//! Fixtures shared by the contract suites: a fresh store per backend and a small region tree.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sentinel_core::*;
use sentinel_store::testing::{TestDatabase, postgres_url_or_skip};
use sentinel_store::*;
use std::sync::Arc;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap()
}

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 4, 29).unwrap()
}

pub fn rc(s: &str) -> RegionCode {
    RegionCode::parse(s).unwrap()
}

pub async fn open_store(url: &str) -> Arc<dyn Store> {
    sentinel_store::open(url, PersonalDataCipher::new(&DataKey::from_hex(KEY).unwrap())).await.unwrap()
}

/// A fresh store on one backend, reopenable by URL, cleaned up afterwards.
pub struct Fixture {
    pub url: String,
    pub _dir: Option<tempfile::TempDir>,
    pub pg: Option<TestDatabase>,
}

impl Fixture {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sentinel.sqlite").display());
        Self { url, _dir: Some(dir), pg: None }
    }

    pub async fn postgres(test: &str) -> Option<Self> {
        let admin = postgres_url_or_skip(test)?;
        let db = TestDatabase::create(&admin).await.unwrap();
        Some(Self { url: db.url.clone(), _dir: None, pg: Some(db) })
    }

    pub async fn finish(self) {
        if let Some(db) = self.pg {
            db.drop_database().await.unwrap();
        }
    }
}

pub async fn seed_regions(s: &dyn Store) {
    let regions = [
        ("320000", "江苏省"),
        ("320500", "苏州市"),
        ("320508", "姑苏区"),
        ("320506", "吴中区"),
        ("320508001", "平江街道"),
        ("320508001001", "平江社区"),
        ("320508001002", "大儒社区"),
        ("320506001", "长桥街道"),
        ("320506001001", "龙桥社区"),
    ];
    let regions: Vec<Region> =
        regions.iter().map(|(c, n)| Region { code: rc(c), name_zh: (*n).into(), name_en: None }).collect();
    s.upsert_regions(&regions).await.unwrap();
}

pub fn venue(name: &str, category: VenueCategory, region: &str) -> NewVenue {
    NewVenue {
        name: name.into(),
        category,
        region_code: rc(region),
        address: format!("{name}路1号"),
        lat: Some(31.3),
        lon: Some(120.6),
        capacity: Some(100),
    }
}

pub fn person(id: &str, name: &str, phone: Option<&str>, region: &str) -> NewPerson {
    NewPerson {
        id_number: ResidentIdNumber::parse(id, today()).unwrap(),
        name: PersonName::parse(name).unwrap(),
        phone: phone.map(|p| PhoneNumber::parse(p).unwrap()),
        address: Some("苏州市姑苏区平江路100号".into()),
        region_code: rc(region),
    }
}

pub fn id_number(area: &str, y: i32, seq: u16) -> String {
    ResidentIdNumber::from_parts(area, NaiveDate::from_ymd_opt(y, 3, 7).unwrap(), seq, today())
        .unwrap()
        .as_str()
        .to_owned()
}

/// Generates one test per case and backend: `sqlite::case` and `postgres::case`.
#[macro_export]
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let f = Fixture::sqlite();
                    cases::$case(&*open_store(&f.url).await).await;
                    f.finish().await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(f) = Fixture::postgres(concat!("postgres::", stringify!($case))).await else { return };
                    cases::$case(&*open_store(&f.url).await).await;
                    f.finish().await;
                }
            )*
        }
    };
}
