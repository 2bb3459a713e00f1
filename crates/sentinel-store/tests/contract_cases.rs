//! The tracing contract (visits for the index, bulk loads, cases and their contacts) on both backends.

mod common;

use chrono::Duration;
use common::*;
use sentinel_core::health::{AssignmentSource, Colour};
use sentinel_core::*;
use sentinel_store::*;

async fn two_persons_and_a_market(s: &dyn Store) -> (PersonId, PersonId, VenueId) {
    seed_regions(s).await;
    let market =
        s.create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now()).await.unwrap();
    let (a, b) = (
        person(&id_number("320508", 1980, 31), "张三", None, "320508001001"),
        person(&id_number("320508", 1981, 32), "李四", None, "320508001001"),
    );
    let a = s.create_person(&a, now()).await.unwrap().id;
    (a, s.create_person(&b, now()).await.unwrap().id, market.id)
}

fn contact(person: PersonId, tier: &str, venue: VenueId, via: PersonId) -> CaseContact {
    CaseContact {
        person_id: person,
        tier: tier.into(),
        venue_id: venue,
        via,
        from: now() - Duration::hours(20),
        to: now() - Duration::hours(19),
        overlap_secs: 1800,
        exposures: 2,
        assignment_id: None,
    }
}

mod cases {
    use super::*;

    pub async fn trace_reads_admitted_visits_of_the_window(s: &dyn Store) {
        let (a, b, market) = two_persons_and_a_market(s).await;
        let ms = |h: i64| (now() - Duration::hours(h)).timestamp_millis();
        let loaded = s
            .bulk_insert_visits(&[
                BulkVisit {
                    person_id: a,
                    venue_id: market,
                    channel: "self_scan",
                    entered_at_ms: ms(30),
                    left_at_ms: None,
                },
                BulkVisit {
                    person_id: b,
                    venue_id: market,
                    channel: "device_code",
                    entered_at_ms: ms(2),
                    left_at_ms: Some(ms(1)),
                },
            ])
            .await
            .unwrap();
        assert_eq!(loaded, 2);
        let mut denied = NewVisit {
            person_id: Some(a),
            venue_id: market,
            device_id: None,
            channel: "manual".into(),
            entered_at: now() - Duration::hours(1),
            outcome: "deny".into(),
            reasons: vec!["code_red".into()],
            policy_id: None,
            policy_version: "city v1".into(),
            temperature_c: None,
            mask: None,
            idempotency_key: None,
            registrar: Some("staff".into()),
            prompt: None,
            alerts: vec![],
        };
        s.record_visits(std::slice::from_ref(&denied)).await.unwrap();
        denied.outcome = "pass".into();
        denied.person_id = None;
        s.record_visits(&[denied]).await.unwrap();
        let rows = s.visits_for_trace(now() - Duration::hours(24), 0, i64::MAX).await.unwrap();
        // Not the visit before the window, not the denied one, not the one without a person.
        assert_eq!(rows.len(), 1);
        let b_visit = rows[0].id;
        assert_eq!(
            rows,
            [TraceVisitRow {
                id: b_visit,
                person_id: b.0,
                venue_id: market.0,
                entered_at_ms: ms(2),
                left_at_ms: Some(ms(1))
            }]
        );
        assert_eq!(s.visits_for_trace(now() - Duration::hours(48), 0, i64::MAX).await.unwrap().len(), 2);
        // Only those after an id: what a live index has not read yet.
        assert_eq!(s.visits_for_trace(now() - Duration::hours(48), b_visit, i64::MAX).await.unwrap(), []);
        assert_eq!(
            s.visits_for_trace(now() - Duration::hours(48), b_visit - 1, i64::MAX).await.unwrap().len(),
            1
        );
        // Up to an id: ranges that split a table between readers.
        assert_eq!(s.visits_for_trace(now() - Duration::hours(48), 0, b_visit - 1).await.unwrap().len(), 1);
        // The denied scan and the one without a person came after b's visit.
        assert_eq!(s.max_visit_id().await.unwrap(), b_visit + 2);
        assert_eq!(s.venue_categories().await.unwrap(), [(market, VenueCategory::WetMarket)]);
        let homes = s.person_homes().await.unwrap();
        assert_eq!(homes, [(a, rc("320508001001")), (b, rc("320508001001"))]);
    }

    pub async fn a_bulk_load_keeps_visits_findable(s: &dyn Store) {
        let (a, b, market) = two_persons_and_a_market(s).await;
        s.begin_bulk_load().await.unwrap();
        let visits: Vec<BulkVisit> = (0..500)
            .map(|i| BulkVisit {
                person_id: if i % 2 == 0 { a } else { b },
                venue_id: market,
                channel: "self_scan",
                entered_at_ms: (now() - Duration::minutes(i)).timestamp_millis(),
                left_at_ms: None,
            })
            .collect();
        assert_eq!(s.bulk_insert_visits(&visits).await.unwrap(), 500);
        s.end_bulk_load().await.unwrap();
        s.end_bulk_load().await.unwrap();
        let filter = VisitFilter { person: Some(a), ..Default::default() };
        let page = s.list_visits(&filter, PageRequest { after: None, limit: 500 }).await.unwrap();
        assert_eq!(page.items.len(), 250);
        assert!(
            page.items.iter().all(|v| v.person_id == Some(a) && v.outcome == "pass" && v.reasons.is_empty())
        );
        // A load larger than one transaction may hold: every visit lands, once (the split into transactions
        // itself is not visible through the contract).
        let before = s.max_visit_id().await.unwrap();
        let many = MAX_BULK_VISITS * 2 + 1;
        let more: Vec<BulkVisit> =
            (0..many).map(|i| BulkVisit { person_id: b, ..visits[i % visits.len()] }).collect();
        assert_eq!(s.bulk_insert_visits(&more).await.unwrap(), many);
        let rows = s.visits_for_trace(now() - Duration::days(2), before, i64::MAX).await.unwrap();
        assert_eq!(rows.len(), many);
        assert!(rows.iter().all(|r| r.person_id == b.0));
    }

    pub async fn cases_keep_their_last_trace_and_applied_codes(s: &dyn Store) {
        let (a, b, market) = two_persons_and_a_market(s).await;
        let new = NewCase {
            person_id: a,
            onset_at: now() - Duration::days(1),
            onset_kind: OnsetKind::Sampled,
            rule_set: "china-2022".into(),
            rule_set_version: 1,
            opened_by: "investigator".into(),
        };
        let case = s.create_case(&new, now()).await.unwrap();
        assert_eq!((case.status, case.person_id, case.onset_kind), (CaseStatus::Open, a, OnsetKind::Sampled));
        assert_eq!(s.get_case(case.id).await.unwrap(), case);

        let (traced, previous) =
            s.save_case_trace(case.id, &[contact(b, "close", market, a)], now()).await.unwrap();
        assert_eq!((traced.traced_at, previous), (Some(now()), vec![]));
        assert_eq!(s.case_contacts(case.id, None, None).await.unwrap(), [contact(b, "close", market, a)]);
        assert_eq!(s.case_contacts(case.id, Some("secondary"), None).await.unwrap(), []);

        let until = now() + Duration::days(10);
        let mut plan = ApplyPlan {
            tiers: vec![("close".into(), Colour::Red, until)],
            reason: format!("case:{}", case.id),
            set_by: "investigator".into(),
            region: Some(rc("320506")),
        };
        let before = s.latest_health_change().await.unwrap();
        // A caller scoped to another district assigns nobody here.
        let none = s.apply_case(case.id, &plan, now()).await.unwrap();
        assert_eq!((none.assigned, none.not_applied), (vec![], 1));
        plan.region = Some(rc("320508"));
        let applied = s.apply_case(case.id, &plan, now()).await.unwrap();
        assert_eq!((applied.case.status, applied.case.applied_at), (CaseStatus::Applied, Some(now())));
        assert_eq!((applied.assigned, applied.not_applied), (vec![(b, "close".to_owned())], 0));
        let assigned = s.case_contacts(case.id, None, None).await.unwrap()[0].assignment_id.unwrap();
        let stored = s.get_assignment(assigned).await.unwrap();
        assert_eq!((stored.person_id, stored.assignment.colour), (b, Colour::Red));
        assert_eq!(stored.assignment.reason, format!("case:{} close", case.id));
        assert_eq!(
            (stored.assignment.source, stored.assignment.valid_from, stored.assignment.valid_until),
            (AssignmentSource::Tracing, now(), Some(until))
        );
        let changes = s.health_changes_since(before, 10).await.unwrap();
        assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), [b]);
        // Applied once: again assigns nothing.
        plan.region = None;
        assert_eq!(s.apply_case(case.id, &plan, now()).await.unwrap().assigned, []);
        assert_eq!(s.assignments_of(b).await.unwrap().len(), 1);

        // A re-run finding the same contact at the same tier keeps the assignment; another tier drops it.
        let (_, previous) =
            s.save_case_trace(case.id, &[contact(b, "close", market, a)], now()).await.unwrap();
        assert_eq!(previous[0].assignment_id, Some(assigned), "the replaced contacts come back");
        assert_eq!(s.case_contacts(case.id, None, None).await.unwrap()[0].assignment_id, Some(assigned));
        // A window of the list: close first, then by person.
        let d = PersonId(b.0 + 1000);
        let two = [contact(d, "secondary", market, b), contact(b, "close", market, a)];
        s.save_case_trace(case.id, &two, now()).await.unwrap();
        let page = |o, l| s.case_contacts(case.id, None, Some((o, l)));
        assert_eq!(page(0, 1).await.unwrap().iter().map(|c| c.person_id).collect::<Vec<_>>(), [b]);
        assert_eq!(page(1, 5).await.unwrap().iter().map(|c| c.person_id).collect::<Vec<_>>(), [d]);
        assert_eq!(page(2, 5).await.unwrap(), []);
        s.save_case_trace(case.id, &[contact(b, "close", market, a)], now()).await.unwrap();
        s.save_case_trace(case.id, &[contact(b, "secondary", market, a)], now()).await.unwrap();
        assert_eq!(s.case_contacts(case.id, None, None).await.unwrap()[0].assignment_id, None);

        let closed = s.close_case(case.id, "investigator", now()).await.unwrap();
        assert_eq!((closed.status, closed.closed_by.as_deref()), (CaseStatus::Closed, Some("investigator")));
        assert!(matches!(s.save_case_trace(case.id, &[], now()).await, Err(StoreError::Conflict(_))));
        assert!(matches!(s.apply_case(case.id, &plan, now()).await, Err(StoreError::Conflict(_))));
        assert!(matches!(s.close_case(case.id, "x", now()).await, Err(StoreError::Conflict(_))));
        assert!(matches!(s.get_case(case.id + 100).await, Err(StoreError::NotFound)));

        let other = s.create_case(&new, now()).await.unwrap();
        let open = s.list_cases(true, None, PageRequest { after: None, limit: 10 }).await.unwrap();
        assert_eq!(open.items.iter().map(|c| c.id).collect::<Vec<_>>(), [other.id]);
        let all = s.list_cases(false, None, PageRequest { after: None, limit: 1 }).await.unwrap();
        assert_eq!(all.items[0].id, other.id);
        let rest = s.list_cases(false, None, PageRequest { after: all.next, limit: 10 }).await.unwrap();
        assert_eq!(rest.items.iter().map(|c| c.id).collect::<Vec<_>>(), [case.id]);
        // By where the case lives: both in 姑苏区, none in 吴中区.
        let first = PageRequest { after: None, limit: 10 };
        assert_eq!(s.list_cases(false, Some(&rc("320508")), first).await.unwrap().items.len(), 2);
        assert_eq!(s.list_cases(false, Some(&rc("320506")), first).await.unwrap().items, []);
    }
}

contract!(
    trace_reads_admitted_visits_of_the_window,
    a_bulk_load_keeps_visits_findable,
    cases_keep_their_last_trace_and_applied_codes,
);

/// On SQLite a bulk load really drops the two visit indexes and puts them back (and a store opened after a
/// load cut short re-creates them).
#[tokio::test]
async fn sqlite_bulk_load_drops_and_rebuilds_the_visit_indexes() {
    let f = Fixture::sqlite();
    let path = f.url.strip_prefix("sqlite://").unwrap().to_owned();
    let indexes = || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('visits_venue_time', 'visits_person_time')",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    let s = open_store(&f.url).await;
    assert_eq!(indexes(), 2);
    s.begin_bulk_load().await.unwrap();
    assert_eq!(indexes(), 0);
    s.end_bulk_load().await.unwrap();
    assert_eq!(indexes(), 2);
    s.begin_bulk_load().await.unwrap();
    drop(s);
    let _reopened = open_store(&f.url).await;
    assert_eq!(indexes(), 2, "re-created when the store opens");
}
