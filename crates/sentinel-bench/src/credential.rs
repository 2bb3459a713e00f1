//! The health-code budgets (DESIGN.md §7, issue 3): decode + verify ≤ 1.2 × a raw Ed25519 verification of
//! the same message size; status lookup p99 ≤ 2 µs with 1 million persons in the cache.

use chrono::{Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use coset::{CborSerializable, CoseSign1};
use ed25519_dalek::{Signer, Verifier as _};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sentinel_core::PersonId;
use sentinel_core::health::*;
use sentinel_credential::*;
use sentinel_server::health::StatusCache;
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use crate::report::{Figure, print};
use sentinel_sim::load::percentile;

fn claims(i: u64) -> HealthClaims {
    let t = Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap();
    HealthClaims {
        issuer: "sentinel".into(),
        subject: format!("p:{}", 100_000 + i),
        token_id: TokenId::random(),
        issued_at: t,
        expires_at: t + Duration::seconds(120),
        kind: CredentialKind::Dynamic,
        status: StatusSnapshot {
            colour: Colour::Green,
            nat_sampled_at: Some(t - Duration::hours(20)),
            nat_outcome: Some(NatOutcome::Negative),
            vaccine_doses: 3,
            itinerary_risk: false,
        },
    }
}

pub fn run(json: bool, persons: usize, iterations: usize) -> anyhow::Result<()> {
    let mut figures = Vec::new();

    // Decode + verify against a raw verification of the same signed bytes.
    let key = SigningKey::generate(Algorithm::Ed25519);
    let trust = TrustList::new([TrustedKey {
        key: key.public(),
        not_before: Utc.timestamp_opt(0, 0).unwrap(),
        not_after: None,
    }]);
    let revoked: HashSet<TokenId> = (0..10_000).map(|_| TokenId::random()).collect();
    let verifier = Verifier { trust: &trust, revocations: &revoked, skew: Duration::seconds(30) };
    let tokens: Vec<String> = (0..256).map(|i| issue(&key, &claims(i))).collect();
    let now = Utc.with_ymd_and_hms(2024, 4, 29, 6, 1, 0).unwrap();
    // The raw side verifies exactly what the token's signature covers (COSE Sig_structure).
    let cose = envelope::open(&tokens[0]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sign1 = CoseSign1::from_slice(&cose).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let message = sign1.tbs_data(b"");
    let raw_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let raw_sig = raw_key.sign(&message);
    let raw_public = raw_key.verifying_key();

    let measure = |f: &mut dyn FnMut(usize)| {
        for i in 0..iterations / 10 {
            f(i); // warm-up
        }
        let started = Instant::now();
        for i in 0..iterations {
            f(i);
        }
        started.elapsed().as_secs_f64() * 1e6 / iterations as f64
    };
    // Interleave the two sides twice so frequency changes hit both alike; keep each side's best.
    let mut raw_us = f64::MAX;
    let mut ours_us = f64::MAX;
    for _ in 0..2 {
        raw_us = raw_us.min(measure(&mut |_| {
            assert!(raw_public.verify(black_box(&message), black_box(&raw_sig)).is_ok());
        }));
        ours_us = ours_us.min(measure(&mut |i| {
            let c = verifier.verify(black_box(&tokens[i % tokens.len()]), now).expect("valid token");
            black_box(c);
        }));
    }
    figures.push(Figure {
        figure: "decode_verify_us",
        value: ours_us,
        unit: "µs",
        anchor: "raw_ed25519_verify_us",
        anchor_value: raw_us,
        budget: "budget: ratio ≤ 1.20",
    });
    figures.push(Figure {
        figure: "decode_verify_per_s",
        value: 1e6 / ours_us,
        unit: "/s",
        anchor: "raw_ed25519_verify_per_s",
        anchor_value: 1e6 / raw_us,
        budget: "one core",
    });
    note!("message signed: {} bytes; token: {} characters", message.len(), tokens[0].len());

    // Status lookups from a cache holding `persons` records.
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let cache = StatusCache::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let day = |d: i64| NaiveDate::from_ymd_opt(2024, 4, 29).unwrap() - Duration::days(d);
    let started = Instant::now();
    let mut plain: HashMap<PersonId, Arc<HealthRecord>> = HashMap::with_capacity(persons);
    for p in 0..persons {
        let sampled = now - Duration::hours(rng.gen_range(1..96));
        let mut record = HealthRecord {
            nat_results: vec![NatResult {
                sampled_at: sampled,
                reported_at: sampled + Duration::hours(6),
                outcome: NatOutcome::Negative,
                kind: NatKind::Pcr,
                lab: None,
            }],
            vaccinations: (1..=rng.gen_range(0..=3u8))
                .map(|dose| Vaccination {
                    dose,
                    date: day(600 - i64::from(dose) * 30),
                    product: "灭活疫苗".into(),
                    manufacturer: "北京生物".into(),
                })
                .collect(),
            ..Default::default()
        };
        if rng.gen_ratio(1, 20) {
            record.assignments.push(Assignment {
                id: p as i64,
                colour: Colour::Yellow,
                reason: "时空伴随".into(),
                source: AssignmentSource::Tracing,
                set_by: "tracer".into(),
                valid_from: now - Duration::days(1),
                valid_until: Some(now + Duration::days(6)),
                lifted_at: None,
            });
        }
        if rng.gen_ratio(1, 10) {
            record.itinerary.push(ItineraryStop {
                region: sentinel_core::RegionCode::parse("320508").unwrap(),
                from: day(5),
                to: day(4),
            });
        }
        let record = Arc::new(record);
        plain.insert(PersonId(p as i64), record.clone());
        cache.insert(PersonId(p as i64), record);
    }
    let areas: Vec<RiskArea> = (0..20)
        .map(|i| RiskArea {
            id: i,
            region: sentinel_core::RegionCode::parse(&format!("3101{:02}", 1 + i % 18)).unwrap(),
            name: "风险地区".into(),
            level: RiskLevel::Medium,
            effective_from: now - Duration::days(10),
            effective_to: None,
        })
        .collect();
    cache.set_risk_areas(areas);
    note!("cache of {persons} persons built in {:.1} s", started.elapsed().as_secs_f64());

    // Steady state: every status computed once, as a running gate's cache holds them.
    let warm = Instant::now();
    for p in 0..persons {
        black_box(cache.cached_status(PersonId(p as i64), now, tz));
    }
    note!("statuses computed in {:.1} s", warm.elapsed().as_secs_f64());
    let lookups = 1_000_000;
    let ids: Vec<PersonId> = (0..lookups).map(|_| PersonId(rng.gen_range(0..persons as i64))).collect();
    let time_each = |f: &dyn Fn(PersonId)| {
        let mut us: Vec<f64> = ids
            .iter()
            .map(|id| {
                let t = Instant::now();
                f(*id);
                t.elapsed().as_nanos() as f64 / 1000.0
            })
            .collect();
        us.sort_by(f64::total_cmp);
        us
    };
    let anchor_us = time_each(&|id| {
        black_box(plain.get(&id));
    });
    let lookup_us = time_each(&|id| {
        black_box(cache.cached_status(id, now, tz).expect("loaded"));
    });
    figures.push(Figure {
        figure: "status_lookup_p50_us",
        value: percentile(&lookup_us, 0.50),
        unit: "µs",
        anchor: "hashmap_get_p50_us",
        anchor_value: percentile(&anchor_us, 0.50),
        budget: "cache of 1 M persons",
    });
    figures.push(Figure {
        figure: "status_lookup_p99_us",
        value: percentile(&lookup_us, 0.99),
        unit: "µs",
        anchor: "hashmap_get_p99_us",
        anchor_value: percentile(&anchor_us, 0.99),
        budget: "budget: value ≤ 2 µs",
    });
    print(&figures, json)?;
    Ok(())
}

/// A NAT CSV over the demo city's residents, with one bad row in every thousand.
pub fn nat_csv(seed: u64, persons: usize, rows: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let city =
        sentinel_sim::DemoCity::generate(sentinel_sim::DemoOptions { seed, persons, ..Default::default() });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a5a);
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let now = Utc::now();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    writeln!(out, "id_number,sampled_at,reported_at,result,kind,lab,source_id")?;
    for i in 0..rows {
        let person = &city.persons[rng.gen_range(0..city.persons.len())];
        let sampled = now - Duration::minutes(rng.gen_range(60..14 * 24 * 60));
        let reported = sampled + Duration::minutes(rng.gen_range(120..720)).min(now - sampled);
        let fmt = |t: chrono::DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
        let id = if i % 1000 == 999 {
            "320508199002301234".to_owned()
        } else {
            person.id_number.as_str().to_owned()
        };
        let kind = if rng.gen_ratio(1, 5) { "antigen" } else { "pcr" };
        writeln!(
            out,
            "{id},{},{},negative,{kind},苏州市疾控中心,lab-{seed}-{i}",
            fmt(sampled),
            fmt(reported)
        )?;
    }
    Ok(())
}
