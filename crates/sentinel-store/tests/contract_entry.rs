//! The entry contract (policies, device tokens, visits, alerts) on both backends.

mod common;

use chrono::Duration;
use common::*;
use sentinel_core::*;
use sentinel_store::*;

fn visit(
    venue: VenueId,
    person: Option<PersonId>,
    device: Option<DeviceId>,
    key: Option<&str>,
    minutes: i64,
) -> NewVisit {
    NewVisit {
        person_id: person,
        venue_id: venue,
        device_id: device,
        channel: "device_code".into(),
        entered_at: now() + Duration::minutes(minutes),
        outcome: "pass".into(),
        reasons: vec![],
        policy_id: Some(1),
        policy_version: "city v1".into(),
        temperature_c: Some(36.6),
        mask: Some(true),
        idempotency_key: key.map(str::to_owned),
        registrar: None,
        prompt: Some(("验证通过，请通行".into(), "Verified: please enter".into())),
        alerts: vec![],
    }
}

/// The seeded regions, a market in 平江社区 and a sentinel at its gate.
async fn market_with_device(s: &dyn Store) -> (Venue, Device) {
    seed_regions(s).await;
    let market =
        s.create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now()).await.unwrap();
    let device = NewDevice {
        venue_id: market.id,
        kind: DeviceKind::Sentinel,
        serial: "S1".into(),
        name: "东门".into(),
    };
    let d = s.create_device(&device, now()).await.unwrap();
    (market, d)
}

mod cases {
    use super::*;

    pub async fn policies_are_versioned_per_scope(s: &dyn Store) {
        let city1 = s.create_policy(&PolicyScope::City, "{\"a\":1}", "command", now()).await.unwrap();
        let city2 = s.create_policy(&PolicyScope::City, "{\"a\":2}", "command", now()).await.unwrap();
        let market = s
            .create_policy(&PolicyScope::Category(VenueCategory::WetMarket), "{}", "command", now())
            .await
            .unwrap();
        assert_eq!((city1.version, city2.version, market.version), (1, 2, 1));
        assert_eq!(city1.status, PolicyStatus::Draft);
        let published =
            s.publish_policy(city2.id, now() + Duration::hours(8), "command", now()).await.unwrap();
        assert_eq!(
            (published.status, published.effective_from),
            (PolicyStatus::Published, Some(now() + Duration::hours(8)))
        );
        assert!(matches!(s.publish_policy(city2.id, now(), "x", now()).await, Err(StoreError::NotFound)));
        let all: Vec<i64> = s.policies().await.unwrap().iter().map(|p| p.id).collect();
        assert_eq!(all, [market.id, city2.id, city1.id]);
        assert_eq!(s.policies().await.unwrap()[1].body, "{\"a\":2}");
    }

    pub async fn devices_authenticate_by_token(s: &dyn Store) {
        seed_regions(s).await;
        let v = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        let d = s
            .create_device(
                &NewDevice {
                    venue_id: v.id,
                    kind: DeviceKind::Sentinel,
                    serial: "S1".into(),
                    name: "东门".into(),
                },
                now(),
            )
            .await
            .unwrap();
        assert!(!d.token_active, "no token before one is issued");
        s.set_device_token(d.id, Some(&[5; 32])).await.unwrap();
        let (found, at) = s.device_by_token(&[5; 32]).await.unwrap().unwrap();
        assert_eq!((found.id, at.id, at.category), (d.id, v.id, VenueCategory::WetMarket));
        assert!(found.token_active && s.get_device(d.id).await.unwrap().token_active);
        s.set_device_token(d.id, None).await.unwrap();
        assert_eq!(s.device_by_token(&[5; 32]).await.unwrap(), None, "a revoked token is gone");
        assert!(!s.get_device(d.id).await.unwrap().token_active);
        s.set_device_token(d.id, Some(&[5; 32])).await.unwrap();
        s.set_device_token(d.id, Some(&[6; 32])).await.unwrap();
        assert_eq!(s.device_by_token(&[5; 32]).await.unwrap(), None, "the old token is gone");
        assert!(matches!(s.set_device_token(DeviceId(d.id.0 + 1000), None).await, Err(StoreError::NotFound)));
        s.delete_venue(v.id, now()).await.unwrap();
        assert_eq!(s.device_by_token(&[6; 32]).await.unwrap(), None, "a retired venue's devices stop");
    }

    pub async fn visits_and_alerts(s: &dyn Store) {
        seed_regions(s).await;
        let market = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        let mall = s
            .create_venue(&venue("吴中商场", VenueCategory::CommercialComplex, "320506001001"), now())
            .await
            .unwrap();
        let d = s
            .create_device(
                &NewDevice {
                    venue_id: market.id,
                    kind: DeviceKind::Sentinel,
                    serial: "S1".into(),
                    name: "东门".into(),
                },
                now(),
            )
            .await
            .unwrap();
        let p = s
            .create_person(&person(&id_number("320508", 1960, 51), "王五", None, "320508001001"), now())
            .await
            .unwrap()
            .id;
        let mut red = visit(market.id, Some(p), Some(d.id), Some("k1"), 0);
        red.outcome = "deny".into();
        red.reasons = vec!["code_red".into(), "fever".into()];
        red.alerts = vec![
            NewAlert { kind: "code_red".into(), region_code: rc("320508001001") },
            NewAlert { kind: "fever".into(), region_code: rc("320508001001") },
        ];
        let batch = [
            red.clone(),
            visit(market.id, None, Some(d.id), Some("k2"), 1),
            visit(mall.id, Some(p), None, None, 60),
        ];
        let recorded = s.record_visits(&batch).await.unwrap();
        assert_eq!(recorded.iter().map(|r| r.duplicate).collect::<Vec<_>>(), [false, false, false]);
        assert_eq!(recorded[0].alert_ids.len(), 2);
        let again = s.record_visits(&[red]).await.unwrap();
        assert_eq!(
            (again[0].visit_id, again[0].duplicate, again[0].alert_ids.len()),
            (recorded[0].visit_id, true, 0)
        );

        let ids = |f: VisitFilter| async move {
            s.list_visits(&f, PageRequest::first(10))
                .await
                .unwrap()
                .items
                .iter()
                .map(|v| v.id)
                .collect::<Vec<_>>()
        };
        let all = ids(VisitFilter::default()).await;
        assert_eq!(all.len(), 3, "the duplicate was not stored");
        assert_eq!(ids(VisitFilter { venue: Some(market.id), ..Default::default() }).await, all[..2]);
        assert_eq!(ids(VisitFilter { person: Some(p), ..Default::default() }).await, [all[0], all[2]]);
        assert_eq!(
            ids(VisitFilter { from: Some(now() + Duration::minutes(30)), ..Default::default() }).await,
            [all[2]]
        );
        assert_eq!(
            ids(VisitFilter { to: Some(now() + Duration::minutes(1)), ..Default::default() }).await,
            [all[0]]
        );
        assert_eq!(
            ids(VisitFilter { scope: Some(Scope::Region(rc("320506"))), ..Default::default() }).await,
            [all[2]]
        );
        assert_eq!(
            ids(VisitFilter { scope: Some(Scope::Category(VenueCategory::WetMarket)), ..Default::default() })
                .await,
            all[..2]
        );
        let first = &s.list_visits(&VisitFilter::default(), PageRequest::first(1)).await.unwrap().items[0];
        assert_eq!(&s.get_visit(first.id).await.unwrap(), first);
        assert_eq!(first.prompt.as_ref().map(|p| p.0.as_str()), Some("验证通过，请通行"));
        assert_eq!(first.policy_version.as_deref(), Some("city v1"));
        assert!(matches!(s.get_visit(9999).await, Err(StoreError::NotFound)));
        assert_eq!(
            (first.reasons.clone(), first.temperature_c, first.category),
            (vec!["code_red".to_owned(), "fever".to_owned()], Some(36.6), VenueCategory::WetMarket)
        );

        let open = s
            .list_alerts(
                &AlertFilter { status: Some(AlertStatus::Open), ..Default::default() },
                PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(
            open.items.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
            ["fever", "code_red"],
            "newest first"
        );
        let scoped = AlertFilter { scope: Some(Scope::Region(rc("320508001002"))), ..Default::default() };
        assert!(
            s.list_alerts(&scoped, PageRequest::first(10)).await.unwrap().items.is_empty(),
            "another community sees nothing"
        );
        let id = open.items[0].id;
        let acked = s.advance_alert(id, AlertStatus::Acknowledged, "grid1", None, now()).await.unwrap();
        assert_eq!(
            (acked.status, acked.acknowledged_by.as_deref()),
            (AlertStatus::Acknowledged, Some("grid1"))
        );
        assert!(matches!(
            s.advance_alert(id, AlertStatus::Acknowledged, "grid1", None, now()).await,
            Err(StoreError::NotFound)
        ));
        let resolved = s
            .advance_alert(id, AlertStatus::Resolved, "grid1", Some("已复测，体温正常"), now())
            .await
            .unwrap();
        assert_eq!(
            (resolved.status, resolved.note.as_deref()),
            (AlertStatus::Resolved, Some("已复测，体温正常"))
        );
        assert!(matches!(
            s.advance_alert(id, AlertStatus::Resolved, "grid1", None, now()).await,
            Err(StoreError::NotFound)
        ));
        let direct =
            s.advance_alert(open.items[1].id, AlertStatus::Resolved, "grid2", None, now()).await.unwrap();
        assert_eq!(direct.acknowledged_by.as_deref(), Some("grid2"), "resolving acknowledges too");
        assert_eq!(s.get_alert(id).await.unwrap(), resolved);

        // Escalation: only open alerts untouched long enough move up, one level at a time, to the cap.
        let mut late = visit(market.id, Some(p), Some(d.id), Some("k9"), 0);
        late.alerts = vec![NewAlert { kind: "fever".into(), region_code: rc("320508001001") }];
        let late_id = s.record_visits(&[late]).await.unwrap()[0].alert_ids[0];
        // Escalate what has waited 15 minutes, as the server's job does at time `t`.
        let at = |minutes: i64| async move {
            let t = now() + Duration::minutes(minutes);
            s.escalate_alerts(t - Duration::minutes(15), t).await.unwrap()
        };
        assert!(at(10).await.is_empty(), "not old enough");
        let up = at(20).await;
        assert_eq!(
            up.iter().map(|a| (a.id, a.level)).collect::<Vec<_>>(),
            [(late_id, 1)],
            "resolved ones stay"
        );
        assert!(at(30).await.is_empty(), "the clock restarts at each escalation");
        assert_eq!(at(40).await[0].level, 2);
        assert!(at(600).await.is_empty(), "a community's alert stops at the district, two levels up");
    }

    /// A device's retry can land in the same batch as the scan it repeats: one visit, one set of alerts.
    pub async fn a_retry_in_the_same_batch_is_one_visit(s: &dyn Store) {
        let (market, d) = market_with_device(s).await;
        let mut scan = visit(market.id, None, Some(d.id), Some("k1"), 0);
        scan.alerts = vec![NewAlert { kind: "fever".into(), region_code: rc("320508001001") }];
        let pair = s.record_visits(&[scan.clone(), scan]).await.unwrap();
        assert_eq!(
            (
                pair[0].duplicate,
                pair[1].duplicate,
                pair[1].visit_id,
                pair[0].alert_ids.len(),
                pair[1].alert_ids.len()
            ),
            (false, true, pair[0].visit_id, 1, 0)
        );
        assert_eq!(
            s.list_visits(&VisitFilter::default(), PageRequest::first(10)).await.unwrap().items.len(),
            1
        );
        let alerts = s.list_alerts(&AlertFilter::default(), PageRequest::first(10)).await.unwrap();
        assert_eq!(alerts.items.len(), 1);
    }

    /// In a mixed batch each alert belongs to its own visit, in the order the scans gave them, and a retried
    /// scan's alerts are not raised again.
    pub async fn each_alert_belongs_to_its_visit(s: &dyn Store) {
        let (market, d) = market_with_device(s).await;
        let with = |key: &str, kinds: &[&str]| {
            let mut v = visit(market.id, None, Some(d.id), Some(key), 0);
            v.alerts = kinds
                .iter()
                .map(|k| NewAlert { kind: (*k).into(), region_code: rc("320508001001") })
                .collect();
            v
        };
        let earlier = s.record_visits(&[with("a", &["fever"])]).await.unwrap();
        let batch = [
            with("b", &[]),
            with("c", &["code_red"]),
            with("a", &["fever"]),
            with("d", &["code_yellow", "no_mask"]),
        ];
        let recorded = s.record_visits(&batch).await.unwrap();
        assert_eq!(recorded[2].visit_id, earlier[0].visit_id);
        let mut seen = Vec::new();
        for (r, v) in recorded.iter().zip(&batch) {
            let kinds: Vec<String> = v.alerts.iter().map(|a| a.kind.clone()).collect();
            assert_eq!(r.alert_ids.len(), if r.duplicate { 0 } else { kinds.len() });
            for (id, kind) in r.alert_ids.iter().zip(&kinds) {
                let alert = s.get_alert(*id).await.unwrap();
                assert_eq!((alert.visit_id, &alert.kind), (Some(r.visit_id), kind));
                seen.push(*id);
            }
        }
        assert_eq!(seen.len(), 3);
        let distinct: std::collections::HashSet<_> =
            recorded.iter().filter(|r| !r.duplicate).map(|r| r.visit_id).collect();
        assert_eq!(distinct.len(), 3, "three new visits with three ids");
    }

    /// Each scan of a batch gets the id of its own visit (new keys, no alerts: the statement without a
    /// transaction), and a later batch that repeats one of its keys among new ones gets that visit back.
    pub async fn each_scan_of_a_batch_gets_its_own_visit(s: &dyn Store) {
        let (market, d) = market_with_device(s).await;
        let batch: Vec<NewVisit> =
            (0..12).map(|i| visit(market.id, None, Some(d.id), Some(&format!("n{i}")), i)).collect();
        let recorded = s.record_visits(&batch).await.unwrap();
        for (r, v) in recorded.iter().zip(&batch) {
            let stored = s.get_visit(r.visit_id).await.unwrap();
            assert_eq!((r.duplicate, stored.entered_at), (false, v.entered_at), "{:?}", v.idempotency_key);
        }
        let again = [visit(market.id, None, Some(d.id), Some("m0"), 30), batch[5].clone()];
        let repeated = s.record_visits(&again).await.unwrap();
        assert_eq!((repeated[1].visit_id, repeated[1].duplicate), (recorded[5].visit_id, true));
        assert!(!repeated[0].duplicate);
        assert_eq!(s.get_visit(repeated[0].visit_id).await.unwrap().entered_at, again[0].entered_at);
    }

    /// Two batches in flight at once holding retries of the same keys in opposite orders both land, and each
    /// key is one visit (PostgreSQL would otherwise deadlock one of them on the unique index).
    pub async fn crossed_retries_in_concurrent_batches_land(s: &dyn Store) {
        let (market, d) = market_with_device(s).await;
        for round in 0..10 {
            let keys: Vec<String> = (0..4).map(|i| format!("r{round}k{i}")).collect();
            let forward: Vec<NewVisit> =
                keys.iter().map(|k| visit(market.id, None, Some(d.id), Some(k), 0)).collect();
            let backward: Vec<NewVisit> = forward.iter().rev().cloned().collect();
            let (a, b) = tokio::join!(s.record_visits(&forward), s.record_visits(&backward));
            let (a, b) = (a.unwrap(), b.unwrap());
            for (i, r) in a.iter().enumerate() {
                assert_eq!(r.visit_id, b[keys.len() - 1 - i].visit_id, "round {round}: one visit per key");
            }
        }
        let all = s.list_visits(&VisitFilter::default(), PageRequest::first(100)).await.unwrap();
        assert_eq!(all.items.len(), 40);
    }

    /// Dispatchers on several nodes claim deliveries: one claim holds them until its lease ends, and what is
    /// not recorded by then is due again; recorded ones never come back.
    pub async fn deliveries_are_claimed_once_per_lease(s: &dyn Store) {
        seed_regions(s).await;
        let market = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        s.create_webhook("http://127.0.0.1:9/hook", "secret", "json", None, "admin", now()).await.unwrap();
        let mut scans = Vec::new();
        for i in 0..3 {
            let mut scan = visit(market.id, None, None, None, i);
            scan.alerts = vec![NewAlert { kind: "fever".into(), region_code: rc("320508001001") }];
            scans.push(scan);
        }
        s.record_visits(&scans).await.unwrap();
        // After the three scans (a minute apart), so all three are due.
        let at = |secs: i64| now() + Duration::seconds(300 + secs);
        // Two dispatchers claim at the same moment: between them every due delivery, none twice.
        let (first, second) =
            tokio::join!(s.claim_deliveries(at(1), 2, at(61)), s.claim_deliveries(at(1), 2, at(61)));
        let (mut first, mut second) = (first.unwrap(), second.unwrap());
        if first.len() < second.len() {
            std::mem::swap(&mut first, &mut second);
        }
        let mut all: Vec<i64> = first.iter().chain(&second).map(|d| d.id).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            (first.len(), second.len(), all.len()),
            (2, 1, 3),
            "a claimed delivery is not handed out twice"
        );
        assert!(s.claim_deliveries(at(2), 10, at(62)).await.unwrap().is_empty());
        s.delivery_succeeded(first[0].id, at(3)).await.unwrap();
        s.delivery_failed(second[0].id, "HTTP 500", Some(at(30)), at(3)).await.unwrap();
        // The failed one is due at its retry time; the unrecorded one when its lease ends.
        let retried = s.claim_deliveries(at(31), 10, at(91)).await.unwrap();
        assert_eq!(retried.iter().map(|d| d.id).collect::<Vec<_>>(), [second[0].id]);
        let expired = s.claim_deliveries(at(62), 10, at(122)).await.unwrap();
        assert_eq!(expired.iter().map(|d| d.id).collect::<Vec<_>>(), [first[1].id]);
        assert_eq!(expired[0].alert.kind, "fever");
    }

    /// The hooks owed a delivery at `t`, each delivered (so it is not owed again).
    async fn owed_hooks(s: &dyn Store, t: chrono::DateTime<chrono::Utc>) -> Vec<i64> {
        let claimed = s.claim_deliveries(t, 100, t + Duration::minutes(10)).await.unwrap();
        for d in &claimed {
            s.delivery_succeeded(d.id, t).await.unwrap();
        }
        let mut ids: Vec<i64> = claimed.iter().map(|d| d.webhook.id).collect();
        ids.sort_unstable();
        ids
    }

    /// An alert raised at a grid's venue climbs one level per escalation: the grid's hook hears it when
    /// raised, the community's, the street's and the district's after one, two and three escalations;
    /// a fourth changes nothing.
    pub async fn grid_alerts_climb_one_level_at_a_time(s: &dyn Store) {
        seed_regions(s).await;
        let grid = rc("320508001001001");
        let region = Region { code: grid.clone(), name_zh: "第一网格".into(), name_en: None };
        s.upsert_regions(&[region]).await.unwrap();
        let mall = s
            .create_venue(&venue("观前商场", VenueCategory::CommercialComplex, "320508001001001"), now())
            .await
            .unwrap();
        let mut hooks = Vec::new();
        for code in ["320508001001001", "320508001001", "320508001", "320508"] {
            let hook = s
                .create_webhook("http://127.0.0.1:9/hook", "secret", "json", Some(&rc(code)), "admin", now())
                .await
                .unwrap();
            hooks.push(hook.id);
        }
        let mut scan = visit(mall.id, None, None, None, 0);
        scan.alerts = vec![NewAlert { kind: "code_red".into(), region_code: grid }];
        let alert = s.record_visits(&[scan]).await.unwrap()[0].alert_ids[0];
        let day = |n: i64| now() + Duration::days(n);
        assert_eq!(owed_hooks(s, now() + Duration::minutes(1)).await, [hooks[0]], "raised: the grid's");
        for (n, hook) in [(1u8, hooks[1]), (2, hooks[2]), (3, hooks[3])] {
            let at = day(i64::from(n));
            let up = s.escalate_alerts(at, at).await.unwrap();
            assert_eq!(up.iter().map(|a| (a.id, a.level)).collect::<Vec<_>>(), [(alert, n)]);
            assert_eq!(owed_hooks(s, at).await, [hook], "after {n} escalations");
        }
        assert!(s.escalate_alerts(day(4), day(4)).await.unwrap().is_empty());
        assert!(owed_hooks(s, day(4)).await.is_empty(), "the district is the top");
    }

    /// A region's webhook hears that subtree's alerts at its level: for an alert raised at a community's
    /// venue, the community's at once, its street's after one escalation, its district's after two; a
    /// deployment-wide one every time; another community never.
    pub async fn region_webhooks_hear_their_alerts_at_their_level(s: &dyn Store) {
        seed_regions(s).await;
        let market = s
            .create_venue(&venue("平江菜市场", VenueCategory::WetMarket, "320508001001"), now())
            .await
            .unwrap();
        let mut hooks = Vec::new();
        for region in [None, Some("320508001001"), Some("320508001002"), Some("320508001"), Some("320508")] {
            let region = region.map(rc);
            let hook = s
                .create_webhook("http://127.0.0.1:9/hook", "secret", "json", region.as_ref(), "admin", now())
                .await
                .unwrap();
            assert_eq!(hook.region, region);
            hooks.push(hook.id);
        }
        assert_eq!(s.webhooks().await.unwrap()[1].region, Some(rc("320508001001")));
        let mut scan = visit(market.id, None, None, None, 0);
        scan.alerts = vec![NewAlert { kind: "fever".into(), region_code: rc("320508001001") }];
        s.record_visits(&[scan]).await.unwrap();
        let owed = |t| owed_hooks(s, t);
        let day = |n: i64| now() + Duration::days(n);
        assert_eq!(
            owed(now() + Duration::minutes(1)).await,
            [hooks[0], hooks[1]],
            "level 0: everyone's and the community's"
        );
        s.escalate_alerts(day(1), day(1)).await.unwrap();
        assert_eq!(owed(day(1)).await, [hooks[0], hooks[3]], "level 1: the street's");
        s.escalate_alerts(day(2), day(2)).await.unwrap();
        assert_eq!(owed(day(2)).await, [hooks[0], hooks[4]], "level 2: the district's");

        // Given up on: the community's dead letter is listed for its district, not for the other community.
        let mut scan = visit(market.id, None, None, None, 0);
        scan.alerts = vec![NewAlert { kind: "fever".into(), region_code: rc("320508001001") }];
        scan.entered_at = day(3);
        s.record_visits(&[scan]).await.unwrap();
        for d in s.claim_deliveries(day(3), 100, day(4)).await.unwrap() {
            s.delivery_failed(d.id, "HTTP 500", None, day(3)).await.unwrap();
            // A late outcome from a dispatcher whose lease ran out changes nothing.
            s.delivery_succeeded(d.id, day(3)).await.unwrap();
        }
        let listed = |within: Option<&str>| {
            let within = within.map(rc);
            async move {
                let dead = s.dead_letters(within.as_ref(), 50).await.unwrap();
                let mut ids: Vec<i64> = dead.iter().map(|d| d.webhook.id).collect();
                ids.sort_unstable();
                ids
            }
        };
        assert_eq!(listed(None).await, [hooks[0], hooks[1]]);
        assert_eq!(listed(Some("320508")).await, [hooks[1]]);
        assert_eq!(listed(Some("320508001002")).await, Vec::<i64>::new());
    }

    pub async fn unvaccinated_registrations_report_home_and_department(s: &dyn Store) {
        seed_regions(s).await;
        let market = s
            .create_venue(&venue("长桥菜市场", VenueCategory::WetMarket, "320506001001"), now())
            .await
            .unwrap();
        let reg = NewUnvaccinated {
            venue_id: market.id,
            person_id: None,
            name: "黄建国".into(),
            phone: Some("13812345678".into()),
            address: Some("平江路3号".into()),
            home_region: rc("320508001001"),
            reason: "患有基础疾病，暂缓接种".into(),
            registrar: "staff1".into(),
            idempotency_key: Some("tablet-1:0001".into()),
        };
        let (stored, duplicate) = s.register_unvaccinated(&reg, now()).await.unwrap();
        assert!(!duplicate);
        // Sent again (a retry after a timeout): the same registration, nothing reported twice.
        let (again, duplicate) = s.register_unvaccinated(&reg, now()).await.unwrap();
        assert_eq!((again.id, again.alert_id, duplicate), (stored.id, stored.alert_id, true));
        let all_alerts = s.list_alerts(&AlertFilter::default(), PageRequest::first(10)).await.unwrap();
        assert_eq!(all_alerts.items.len(), 1);
        // Without a key (or another key) every registration counts.
        let other = NewUnvaccinated { idempotency_key: None, ..reg.clone() };
        let (first, _) = s.register_unvaccinated(&other, now()).await.unwrap();
        let (second, _) = s.register_unvaccinated(&other, now()).await.unwrap();
        assert_ne!(first.id, second.id);
        for extra in [first.id, second.id] {
            assert!(extra > stored.id);
        }
        assert_eq!((stored.name.as_str(), stored.phone.as_deref()), ("黄建国", Some("13812345678")));
        let alert = s.get_alert(stored.alert_id.unwrap()).await.unwrap();
        assert_eq!(
            (alert.kind.as_str(), alert.region_code.clone(), alert.venue_id),
            ("unvaccinated_report", rc("320508001001"), market.id)
        );
        let sees = |scope: Scope| async move {
            s.list_unvaccinated(&scope, PageRequest::first(10)).await.unwrap().items.len()
        };
        assert_eq!(sees(Scope::Region(rc("320508001001"))).await, 3, "the home community");
        assert_eq!(sees(Scope::Category(VenueCategory::WetMarket)).await, 3, "the category's department");
        assert_eq!(sees(Scope::Region(rc("320506001001"))).await, 3, "the venue's own community");
        assert_eq!(sees(Scope::Region(rc("320508001002"))).await, 0);
        assert_eq!(sees(Scope::Category(VenueCategory::Bus)).await, 0);
    }
}

contract!(
    policies_are_versioned_per_scope,
    devices_authenticate_by_token,
    visits_and_alerts,
    a_retry_in_the_same_batch_is_one_visit,
    each_alert_belongs_to_its_visit,
    each_scan_of_a_batch_gets_its_own_visit,
    crossed_retries_in_concurrent_batches_land,
    deliveries_are_claimed_once_per_lease,
    region_webhooks_hear_their_alerts_at_their_level,
    grid_alerts_climb_one_level_at_a_time,
    unvaccinated_registrations_report_home_and_department,
);
