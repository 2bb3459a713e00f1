//! The health registry and credential contract on both backends.

mod common;

use chrono::{Duration, NaiveDate};
use common::*;
use sentinel_core::health::*;
use sentinel_core::*;
use sentinel_store::*;

async fn one_person(s: &dyn Store) -> PersonId {
    seed_regions(s).await;
    s.create_person(&person(&id_number("320508", 1980, 31), "张三", None, "320508001001"), now())
        .await
        .unwrap()
        .id
}

fn assignment(person_id: PersonId, colour: Colour, hours: Option<i64>) -> NewAssignment {
    NewAssignment {
        person_id,
        colour,
        reason: "苏州市卫健委通报".into(),
        source: AssignmentSource::Authority,
        set_by: "feed".into(),
        valid_from: now(),
        valid_until: hours.map(|h| now() + Duration::hours(h)),
    }
}

mod cases {
    use super::*;

    pub async fn assignments_history_and_appeals(s: &dyn Store) {
        let p = one_person(s).await;
        let yellow = s.add_assignment(&assignment(p, Colour::Yellow, Some(72)), now()).await.unwrap();
        let red = s.add_assignment(&assignment(p, Colour::Red, Some(24)), now()).await.unwrap();
        assert_eq!(red.assignment.colour, Colour::Red);
        assert_eq!(red.person_id, p);
        let history = s.assignments_of(p).await.unwrap();
        assert_eq!(
            history.iter().map(|a| a.assignment.id).collect::<Vec<_>>(),
            [yellow.assignment.id, red.assignment.id]
        );

        let appeal = s.file_appeal(red.assignment.id, "张三", "当日不在该场所", now()).await.unwrap();
        assert_eq!((appeal.status, appeal.person_id), (AppealStatus::Pending, p));
        assert!(matches!(s.file_appeal(9999, "x", "y", now()).await, Err(StoreError::NotFound)));
        let later = now() + Duration::hours(2);
        let decided = s.decide_appeal(appeal.id, true, "reviewer", "核实无误", later).await.unwrap();
        assert_eq!((decided.status, decided.decided_by.as_deref()), (AppealStatus::Upheld, Some("reviewer")));
        assert!(
            matches!(s.decide_appeal(appeal.id, false, "x", "y", later).await, Err(StoreError::NotFound)),
            "decided once"
        );
        let lifted = s.get_assignment(red.assignment.id).await.unwrap();
        assert_eq!(lifted.assignment.lifted_at, Some(later));
        assert!(lifted.lift_reason.unwrap().contains("申诉"));
        assert_eq!(s.appeals_of(p).await.unwrap().len(), 1);

        let record = s.health_record(p).await.unwrap();
        let status = record.status(
            &[],
            later + Duration::minutes(1),
            chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        );
        assert_eq!(status.colour, Colour::Yellow, "the red was lifted; the yellow remains");
        let rejected = s.file_appeal(yellow.assignment.id, "张三", "x", later).await.unwrap();
        s.decide_appeal(rejected.id, false, "reviewer", "维持", later).await.unwrap();
        assert_eq!(s.get_assignment(yellow.assignment.id).await.unwrap().assignment.lifted_at, None);
        assert!(matches!(
            s.lift_assignment(red.assignment.id, later, "x", "y").await,
            Err(StoreError::NotFound)
        ));
        let manual = s.lift_assignment(yellow.assignment.id, later, "admin", "更正").await.unwrap();
        assert_eq!(manual.lifted_by.as_deref(), Some("admin"));
    }

    pub async fn records_are_idempotent(s: &dyn Store) {
        let p = one_person(s).await;
        let nat = |h: i64, source: Option<&str>| NewNatResult {
            person_id: p,
            sampled_at: now() - Duration::hours(h),
            reported_at: now() - Duration::hours(h - 6),
            outcome: NatOutcome::Negative,
            kind: NatKind::Pcr,
            lab: Some("苏州市疾控中心".into()),
            source_id: source.map(str::to_owned),
        };
        let batch = [nat(30, Some("lab-1")), nat(54, None), nat(78, Some("lab-3"))];
        assert_eq!(s.add_nat_results(&batch, now()).await.unwrap(), 3);
        assert_eq!(s.add_nat_results(&batch, now()).await.unwrap(), 0, "re-sending changes nothing");
        // The same source id with another sample time is the same record.
        assert_eq!(s.add_nat_results(&[nat(31, Some("lab-1"))], now()).await.unwrap(), 0);

        let v = |dose, d| NewVaccination {
            person_id: p,
            dose,
            date: NaiveDate::from_ymd_opt(2021, 6, d).unwrap(),
            product: "新冠病毒灭活疫苗（Vero细胞）".into(),
            manufacturer: "北京科兴中维".into(),
        };
        assert_eq!(s.add_vaccinations(&[v(1, 1), v(2, 22)], now()).await.unwrap(), 2);
        assert_eq!(s.add_vaccinations(&[v(2, 22)], now()).await.unwrap(), 0);
        let exemption = |issued_by: &str, until| NewVaccineExemption {
            person_id: p,
            exemption: VaccineExemption {
                reason: ExemptionReason::Postponed,
                issued_by: issued_by.into(),
                from: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
                until,
            },
        };
        let until = NaiveDate::from_ymd_opt(2024, 6, 30);
        let both = [exemption("苏州市立医院", until), exemption("苏州大学附属第一医院", None)];
        assert_eq!(s.add_vaccine_exemptions(&both, now()).await.unwrap(), 2);
        assert_eq!(
            s.add_vaccine_exemptions(&both[..1], now()).await.unwrap(),
            0,
            "re-sending changes nothing"
        );
        let stop = NewItinerary {
            person_id: p,
            region: rc("310115"),
            from: NaiveDate::from_ymd_opt(2024, 4, 20).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 4, 22).unwrap(),
        };
        assert_eq!(s.add_itineraries(&[stop.clone(), stop], now()).await.unwrap(), 1);

        let record = s.health_record(p).await.unwrap();
        assert_eq!((record.nat_results.len(), record.vaccinations.len(), record.itinerary.len()), (3, 2, 1));
        assert_eq!(record.vaccinations[1].dose, 2);
        // Same first day: in the order they were recorded.
        assert_eq!(record.vaccine_exemptions, [both[0].exemption.clone(), both[1].exemption.clone()]);
        assert_eq!(record.itinerary[0].region, rc("310115"));
        let latest = latest_nat(&record.nat_results, now()).unwrap();
        assert_eq!(latest.sampled_at, now() - Duration::hours(30));
        assert_eq!(latest.lab.as_deref(), Some("苏州市疾控中心"));
        let unknown = NewNatResult { person_id: PersonId(9999), ..nat(1, None) };
        assert!(s.add_nat_results(&[unknown], now()).await.is_err(), "an unknown person fails the batch");
        assert_eq!(s.health_record(p).await.unwrap().nat_results.len(), 3, "nothing half-loaded");
    }

    pub async fn risk_areas_are_published_and_ended(s: &dyn Store) {
        let area = NewRiskArea {
            region: rc("310115"),
            name: "上海市浦东新区".into(),
            level: RiskLevel::High,
            effective_from: now(),
            effective_to: None,
            published_by: "command".into(),
        };
        let a = s.add_risk_area(&area, now()).await.unwrap();
        let b = s
            .add_risk_area(&NewRiskArea { level: RiskLevel::Medium, region: rc("320508001"), ..area }, now())
            .await
            .unwrap();
        assert_eq!(s.risk_areas(Some(now())).await.unwrap().len(), 2);
        let ended = s.end_risk_area(a.id, now() + Duration::days(7)).await.unwrap();
        assert_eq!(ended.effective_to, Some(now() + Duration::days(7)));
        let current: Vec<i64> =
            s.risk_areas(Some(now() + Duration::days(8))).await.unwrap().iter().map(|a| a.id).collect();
        assert_eq!(current, [b.id]);
        assert_eq!(s.risk_areas(None).await.unwrap().len(), 2);
        assert!(matches!(s.end_risk_area(a.id, now() + Duration::days(9)).await, Err(StoreError::NotFound)));
    }

    pub async fn keys_credentials_and_revocations(s: &dyn Store) {
        let p = one_person(s).await;
        let key = StoredKey {
            kid: "00112233aabbccdd".into(),
            purpose: KeyPurpose::Issuer,
            algorithm: "Ed25519".into(),
            public_key: vec![1; 32],
            secret: vec![2; 32],
            not_before: now(),
            not_after: None,
            retired_at: None,
            created_at: now(),
        };
        s.create_key(&key).await.unwrap();
        assert_eq!(s.keys().await.unwrap(), std::slice::from_ref(&key));
        s.set_key_validity(&key.kid, Some(now() + Duration::days(1)), None).await.unwrap();
        assert_eq!(s.keys().await.unwrap()[0].not_after, Some(now() + Duration::days(1)));
        assert!(matches!(s.set_key_validity("ffff", None, None).await, Err(StoreError::NotFound)));

        let cred = |id: u8| CredentialRecord {
            token_id: vec![id; 16],
            person_id: p,
            kind: "paper".into(),
            kid: key.kid.clone(),
            issued_at: now(),
            expires_at: now() + Duration::hours(24),
            issued_by: "grid1".into(),
            revoked_at: None,
        };
        s.record_credential(&cred(1)).await.unwrap();
        s.record_credential(&cred(2)).await.unwrap();
        assert_eq!(s.get_credential(&[1; 16]).await.unwrap(), Some(cred(1)));
        assert_eq!(s.credentials_of(p).await.unwrap().len(), 2);
        let r1 = s.revoke_credential(&[2; 16], now(), "遗失").await.unwrap();
        let again = s.revoke_credential(&[2; 16], now() + Duration::hours(1), "again").await.unwrap();
        assert_eq!(again, r1, "revoking twice keeps the first entry");
        let r2 = s.revoke_credential(&[1; 16], now(), "重新打印").await.unwrap();
        assert!(r2.seq > r1.seq);
        assert!(matches!(s.revoke_credential(&[9; 16], now(), "x").await, Err(StoreError::NotFound)));
        assert_eq!(s.revocations_since(0, 10).await.unwrap(), [r1.clone(), r2.clone()]);
        assert_eq!(s.revocations_since(r1.seq, 10).await.unwrap(), [r2]);
        assert_eq!(s.get_credential(&[2; 16]).await.unwrap().unwrap().revoked_at, Some(now()));
    }
}

contract!(
    assignments_history_and_appeals,
    records_are_idempotent,
    risk_areas_are_published_and_ended,
    keys_credentials_and_revocations,
);

/// Signing-key secrets are encrypted at rest like personal data.
#[tokio::test]
async fn key_secrets_are_not_stored_in_clear() {
    let f = Fixture::sqlite();
    let s = open_store(&f.url).await;
    let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let key = StoredKey {
        kid: "k1".into(),
        purpose: KeyPurpose::Anchor,
        algorithm: "Ed25519".into(),
        public_key: vec![7; 32],
        secret: secret.clone(),
        not_before: now(),
        not_after: None,
        retired_at: None,
        created_at: now(),
    };
    s.create_key(&key).await.unwrap();
    assert_eq!(s.keys().await.unwrap()[0].secret, secret);
    drop(s);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(f._dir.as_ref().unwrap().path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    // The scan read the data: the public key, stored in clear, is there.
    assert!(bytes.windows(32).any(|w| w == [7u8; 32]), "the scan found the database's bytes");
    assert!(!bytes.windows(32).any(|w| w == secret.as_slice()));
}

/// Every health write logs the person, so other nodes' caches learn of it.
async fn changes_are_logged(s: &dyn Store) {
    let p = one_person(s).await;
    let start = s.latest_health_change().await.unwrap();
    let a = s.add_assignment(&assignment(p, Colour::Yellow, None), now()).await.unwrap();
    let nat = NewNatResult {
        person_id: p,
        sampled_at: now() - Duration::hours(3),
        reported_at: now() - Duration::hours(1),
        outcome: NatOutcome::Negative,
        kind: NatKind::Antigen,
        lab: None,
        source_id: None,
    };
    s.add_nat_results(std::slice::from_ref(&nat), now()).await.unwrap();
    s.add_nat_results(&[nat], now()).await.unwrap();
    s.lift_assignment(a.assignment.id, now(), "x", "y").await.unwrap();
    let changes = s.health_changes_since(start, 10).await.unwrap();
    assert_eq!(changes.len(), 3, "the duplicate NAT changed nothing: {changes:?}");
    assert!(changes.iter().all(|(_, person)| *person == p));
    assert_eq!(s.latest_health_change().await.unwrap(), changes[2].0);
    assert_eq!(s.health_changes_since(changes[2].0, 10).await.unwrap(), []);
}

#[tokio::test]
async fn sqlite_changes_are_logged() {
    let f = Fixture::sqlite();
    changes_are_logged(&*open_store(&f.url).await).await;
}

#[tokio::test]
async fn postgres_changes_are_logged() {
    let Some(f) = Fixture::postgres("postgres_changes_are_logged").await else { return };
    changes_are_logged(&*open_store(&f.url).await).await;
    f.finish().await;
}
