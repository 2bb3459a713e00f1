//! The investigator's workflow end to end: a case who visited a market yesterday, the other visitors of
//! that hour as close contacts with evidence, a late upload found by a re-run, the notification lists,
//! codes applied, and the gate denying a close contact at their next scan.

mod support;

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use sentinel_core::{PersonId, VenueId};
use sentinel_store::BulkVisit;
use serde_json::{Value, json};
use support::{Backend, TestServer, id_number};

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// Yesterday at `h:m` in the city (UTC+8).
fn yesterday(h: u32, m: u32) -> DateTime<Utc> {
    let day = Utc::now().with_timezone(&cst()).date_naive() - Duration::days(1);
    day.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap()).and_local_timezone(cst()).unwrap().to_utc()
}

fn visit(person: i64, venue: i64, from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> BulkVisit {
    BulkVisit {
        person_id: PersonId(person),
        venue_id: VenueId(venue),
        channel: "self_scan",
        entered_at_ms: from.timestamp_millis(),
        left_at_ms: to.map(|t| t.timestamp_millis()),
    }
}

async fn person(s: &TestServer, admin: &str, seq: u16, name: &str) -> i64 {
    let body = json!({"id_number": id_number("320508", "19850101", seq), "name": name, "phone": format!("1380000{seq:04}"), "region_code": "320508001001001"});
    let (status, p) = s.post("/api/v1/persons", admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p["id"].as_i64().unwrap()
}

async fn venue(s: &TestServer, admin: &str, name: &str, category: &str, address: &str) -> i64 {
    let body =
        json!({"name": name, "category": category, "region_code": "320508001001001", "address": address});
    let (status, v) = s.post("/api/v1/venues", admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

fn persons(list: &Value) -> Vec<i64> {
    list["items"].as_array().unwrap().iter().map(|c| c["person_id"].as_i64().unwrap()).collect()
}

async fn a_market_case_turns_its_contacts_red(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let market = venue(s, &admin, "平江菜市场", "wet_market", "平江路88号").await;
    // An address that would be a formula in a spreadsheet: the lists must show it as text.
    let shop = venue(s, &admin, "苏果超市", "supermarket", "=HYPERLINK(\"http://x\")").await;
    let case_person = person(s, &admin, 11, "王芳").await;
    let (a, b, d, late) = (
        person(s, &admin, 12, "李强").await,
        person(s, &admin, 13, "赵敏").await,
        person(s, &admin, 15, "周杰").await,
        person(s, &admin, 16, "吴刚").await,
    );
    // The companion lives in another district (吴中区).
    let body =
        json!({"id_number": id_number("320506", "19850101", 14), "name": "孙丽", "region_code": "320506"});
    let (_, c) = s.post("/api/v1/persons", &admin, body).await;
    let c = c["id"].as_i64().unwrap();
    let store = &s.state.store;
    store
        .bulk_insert_visits(&[
            visit(case_person, market, yesterday(10, 0), Some(yesterday(10, 30))),
            // Later, an entry-only scan at the supermarket: the trajectory infers its stay.
            visit(case_person, shop, yesterday(13, 0), None),
            // Overlapping the case: close contacts (b without a check-out: the market's 30 minutes).
            visit(a, market, yesterday(10, 10), Some(yesterday(10, 40))),
            visit(b, market, yesterday(10, 25), None),
            // Same market, same day, hours later: a companion.
            visit(c, market, yesterday(15, 0), Some(yesterday(15, 20))),
            // With a close contact after their exposure: a secondary contact.
            visit(a, shop, yesterday(12, 0), Some(yesterday(12, 20))),
            visit(d, shop, yesterday(12, 5), Some(yesterday(12, 30))),
        ])
        .await
        .unwrap();

    let investigator = s.user(&admin, "liudiao", "investigator", "*").await;
    let (status, rule_sets) = s.get("/api/v1/rule-sets", &investigator).await;
    assert_eq!(status, StatusCode::OK);
    let china = rule_sets["items"].as_array().unwrap().iter().find(|r| r["name"] == "china-2022").unwrap();
    assert_eq!((china["lookback_days"].as_u64(), china["hops"].as_u64()), (Some(4), Some(2)));
    assert_eq!(china["close"], json!({"colour": "red", "expiry_days": 10}));
    assert!(rule_sets["items"].as_array().unwrap().iter().any(|r| r["name"] == "cwa-like"));

    let sampled = yesterday(18, 0).with_timezone(&cst()).to_rfc3339();
    let input = json!({"person_id": case_person, "sampled_at": sampled, "rule_set": "china-2022"});
    let (status, case) = s.post("/api/v1/cases", &investigator, input).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().unwrap();
    assert_eq!((case["status"].as_str(), case["onset_kind"].as_str()), (Some("open"), Some("sampled")));

    let (status, traced) = s.post(&format!("/api/v1/cases/{id}/trace"), &investigator, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{traced}");
    assert_eq!(traced["counts"], json!({"close": 2, "secondary": 1, "companion": 1}), "{traced}");
    assert_eq!(traced["changes"]["rerun"], json!(false));
    assert_eq!(
        (traced["indexed_visits"].as_u64(), traced["window_truncated"].as_bool()),
        (Some(7), Some(false))
    );
    assert_eq!(traced["venues"][0]["venue_id"].as_i64(), Some(market));
    assert_eq!(traced["venues"][0]["counts"], json!({"close": 2, "secondary": 0, "companion": 1}));

    let (_, close) = s.get(&format!("/api/v1/cases/{id}/contacts?tier=close"), &investigator).await;
    assert_eq!(persons(&close), [a, b]);
    let evidence = &close["items"][0]["evidence"][0];
    assert_eq!((evidence["venue_id"].as_i64(), evidence["via"].as_i64()), (Some(market), Some(case_person)));
    assert_eq!(evidence["venue_name"], "平江菜市场");
    let from: DateTime<FixedOffset> = evidence["from"].as_str().unwrap().parse().unwrap();
    let to: DateTime<FixedOffset> = evidence["to"].as_str().unwrap().parse().unwrap();
    // a was there 10:10–10:40, the case 10:00–10:30 plus 30 minutes of lingering air.
    assert_eq!((from.to_utc(), to.to_utc()), (yesterday(10, 10), yesterday(10, 40)));
    assert_eq!(close["items"][0]["name"], "李*");
    let (_, secondary) = s.get(&format!("/api/v1/cases/{id}/contacts?tier=secondary"), &investigator).await;
    assert_eq!(persons(&secondary), [d]);
    assert_eq!(secondary["items"][0]["evidence"][0]["via"].as_i64(), Some(a));
    let (_, page) = s.get(&format!("/api/v1/cases/{id}/contacts?limit=3"), &investigator).await;
    assert_eq!(persons(&page), [a, b, d]);
    let (_, rest) = s
        .get(
            &format!("/api/v1/cases/{id}/contacts?limit=3&cursor={}", page["next"].as_str().unwrap()),
            &investigator,
        )
        .await;
    assert_eq!((persons(&rest), rest["next"].is_null()), (vec![c], true));

    let (_, trajectory) = s.get(&format!("/api/v1/cases/{id}/trajectory"), &investigator).await;
    let stops = trajectory["items"].as_array().unwrap();
    assert_eq!(stops.len(), 2, "{trajectory}");
    assert_eq!(
        (stops[0]["venue_name"].as_str(), stops[0]["category"].as_str()),
        (Some("平江菜市场"), Some("wet_market"))
    );
    assert_eq!(stops[0]["address"], "平江路88号");
    let left =
        |stop: &Value| stop["left_at"].as_str().unwrap().parse::<DateTime<FixedOffset>>().unwrap().to_utc();
    assert_eq!((left(&stops[0]), stops[0]["left_inferred"].as_bool()), (yesterday(10, 30), Some(false)));
    // No check-out at the supermarket: its category's 40 minutes, as the trace counts them.
    assert_eq!((left(&stops[1]), stops[1]["left_inferred"].as_bool()), (yesterday(13, 40), Some(true)));

    // An offline device uploads a visit of that hour late: the re-run finds it and says so.
    store
        .bulk_insert_visits(&[visit(late, market, yesterday(10, 5), Some(yesterday(10, 15)))])
        .await
        .unwrap();
    let (_, rerun) = s.post(&format!("/api/v1/cases/{id}/trace"), &investigator, json!({})).await;
    assert_eq!(rerun["counts"]["close"], 3, "{rerun}");
    assert_eq!(rerun["changes"]["rerun"], json!(true));
    assert_eq!(rerun["changes"]["added"], json!([late]));
    assert_eq!(rerun["changes"]["removed_count"], 0);

    // The lists: masked for the investigator, formula-proof, CSV with a BOM, XLSX all text.
    let res = s
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/export.csv"), Some(&investigator), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{csv}");
    assert!(lines[0].starts_with("序号 No.,层级 Tier,姓名 Name"));
    assert!(csv.contains("李*") && !csv.contains("李强"), "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.contains(",=") && !csv.contains(",\"="), "no cell starts a formula, quoted or not: {csv}");
    assert!(!csv.lines().any(|l| l.split(',').any(|cell| cell.starts_with('='))));

    let res = s
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/cases/{id}/export.xlsx?tier=close"),
            Some(&investigator),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("通知名单").unwrap();
    assert_eq!(sheet.height(), 1 + 3);
    assert_eq!(sheet.get((1, 2)).unwrap().to_string(), "李*");
    assert_eq!(sheet.get((1, 6)).unwrap().to_string(), "平江菜市场");

    // Unmasked only for a caller who may, with a purpose, audited.
    let purpose = "?purpose=%E9%80%9A%E7%9F%A5%E5%AF%86%E6%8E%A5%E9%9A%94%E7%A6%BB";
    let res = s
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/cases/{id}/export.csv{purpose}"),
            Some(&investigator),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "investigators may unmask");
    assert!(res.text().await.unwrap().contains("李强"));
    let district = s.user(&admin, "district_inv", "investigator", "320508").await;
    let res = s
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/cases/{id}/export.csv{purpose}"),
            Some(&district),
            None,
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a district's investigator cannot unmask a city-wide list"
    );
    let (_, audit) = s.get("/api/v1/audit?action=case.export.unmask", &admin).await;
    assert_eq!(audit["items"][0]["purpose"], "通知密接隔离", "{audit}");

    // Clusters: a second case who was at the same market.
    let input = json!({"person_id": late, "onset_at": yesterday(20, 0).to_rfc3339()});
    let (_, second) = s.post("/api/v1/cases", &investigator, input).await;
    let (_, clusters) = s.get("/api/v1/clusters?min_cases=2&days=3", &investigator).await;
    assert_eq!(clusters["items"].as_array().unwrap().len(), 1, "{clusters}");
    assert_eq!(
        (clusters["items"][0]["venue_id"].as_i64(), clusters["items"][0]["cases"].as_u64()),
        (Some(market), Some(2))
    );
    s.post(&format!("/api/v1/cases/{}/close", second["id"]), &investigator, json!({})).await;

    // Scopes: 吴中区's investigator cannot see a 姑苏区 case; 姑苏区's applies to 姑苏区's residents only.
    let wuzhong = s.user(&admin, "wuzhong_inv", "investigator", "320506").await;
    let (status, e) = s.get(&format!("/api/v1/cases/{id}"), &wuzhong).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
    assert_eq!(s.get("/api/v1/cases", &wuzhong).await.1["items"], json!([]), "nor list it");
    for action in ["apply", "close", "trace"] {
        let (status, _) = s.post(&format!("/api/v1/cases/{id}/{action}"), &wuzhong, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action} by another district");
    }
    let (status, applied) = s.post(&format!("/api/v1/cases/{id}/apply"), &district, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["assigned"], json!({"close": 3, "secondary": 1, "companion": 0}));
    assert_eq!(
        (applied["not_applied"].as_u64(), applied["case"]["status"].as_str()),
        (Some(1), Some("applied"))
    );

    // Apply city-wide: close → red, secondary → yellow, companion → yellow, with the case as basis.
    let (status, applied) = s.post(&format!("/api/v1/cases/{id}/apply"), &investigator, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["assigned"], json!({"close": 0, "secondary": 0, "companion": 1}));
    assert_eq!(applied["not_applied"], 0);
    let (_, health) = s.get(&format!("/api/v1/persons/{a}/health"), &admin).await;
    assert_eq!(health["colour"], "red", "{health}");
    assert!(health["reason"].as_str().unwrap().starts_with(&format!("case:{id}")), "{health}");
    assert_eq!(health["source"], "tracing");
    let (_, health) = s.get(&format!("/api/v1/persons/{d}/health"), &admin).await;
    assert_eq!(health["colour"], "yellow");
    let (_, again) = s.post(&format!("/api/v1/cases/{id}/apply"), &investigator, json!({})).await;
    assert_eq!(again["assigned"], json!({"close": 0, "secondary": 0, "companion": 0}), "applied once");

    // a's next scan at the market gate is denied, and the grid worker hears of it.
    let (_, device) = s
        .post(
            &format!("/api/v1/venues/{market}/devices"),
            &admin,
            json!({"name": "东门哨兵", "kind": "sentinel"}),
        )
        .await;
    let (_, code) = s.post(&format!("/api/v1/persons/{a}/health-code"), &admin, json!({})).await;
    let (status, scan) = s
        .post(
            "/api/v1/device/scans",
            device["token"].as_str().unwrap(),
            json!({"idempotency_key": "k1", "health_code": code["token"], "temperature_c": 36.5, "mask": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{scan}");
    assert_eq!(scan["outcome"], "deny");
    assert!(scan["reasons"].as_array().unwrap().contains(&json!("code_red")), "{scan}");
    let (_, alerts) = s.get(&format!("/api/v1/alerts?venue_id={market}"), &admin).await;
    assert!(alerts["items"].as_array().unwrap().iter().any(|x| x["kind"] == "code_red"), "{alerts}");

    let (status, closed) = s.post(&format!("/api/v1/cases/{id}/close"), &investigator, json!({})).await;
    assert_eq!((status, closed["status"].as_str()), (StatusCode::OK, Some("closed")));
    let (status, e) = s.post(&format!("/api/v1/cases/{id}/trace"), &investigator, json!({})).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("case_closed")));
    let (status, _) = s.post(&format!("/api/v1/cases/{id}/apply"), &investigator, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, open) = s.get("/api/v1/cases", &investigator).await;
    assert_eq!(open["items"], json!([]));
    let (_, all) = s.get("/api/v1/cases?all=true", &investigator).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

/// A venue's category sets the minimum overlap: an edit through the API is traced by the next trace.
async fn a_venue_category_edit_reaches_the_next_trace(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    // china-2022 asks 15 minutes together in an office, any overlap at a market.
    let place = venue(s, &admin, "姑苏大厦", "office", "人民路1号").await;
    let (case_person, brief) = (person(s, &admin, 31, "冯宁").await, person(s, &admin, 32, "陈静").await);
    let store = &s.state.store;
    store
        .bulk_insert_visits(&[
            visit(case_person, place, yesterday(9, 0), Some(yesterday(9, 30))),
            // 10 minutes within the case's stay plus its 30 minutes of lingering air (until 10:00).
            visit(brief, place, yesterday(9, 50), Some(yesterday(10, 20))),
        ])
        .await
        .unwrap();
    let sampled = yesterday(18, 0).to_rfc3339();
    let input = json!({"person_id": case_person, "sampled_at": sampled, "rule_set": "china-2022"});
    let (_, case) = s.post("/api/v1/cases", &admin, input).await;
    let trace = format!("/api/v1/cases/{}/trace", case["id"].as_i64().unwrap());
    let (status, traced) = s.post(&trace, &admin, json!({})).await;
    assert_eq!((status, &traced["counts"]["close"]), (StatusCode::OK, &json!(0)), "{traced}");

    let edit = Some(json!({"category": "wet_market"}));
    let (status, edited) =
        s.call(Method::PATCH, &format!("/api/v1/venues/{place}"), Some(&admin), edit).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (_, traced) = s.post(&trace, &admin, json!({})).await;
    assert_eq!(traced["counts"]["close"], json!(1), "{traced}");
}

async fn bad_case_input_is_refused(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let p = person(s, &admin, 21, "钱多").await;
    let at = yesterday(9, 0).to_rfc3339();
    for (body, field) in [
        (json!({"person_id": p, "onset_at": at, "rule_set": "no-such-set"}), "rule_set"),
        (json!({"person_id": p, "onset_at": at, "sampled_at": at}), "onset_at"),
        (json!({"person_id": p}), "onset_at"),
        (json!({"person_id": p, "onset_at": "yesterday"}), "onset_at"),
        (json!({"person_id": p, "onset_at": (Utc::now() + Duration::days(2)).to_rfc3339()}), "onset_at"),
        (json!({"person_id": p, "onset_at": (Utc::now() - Duration::days(60)).to_rfc3339()}), "onset_at"),
        // 28 days ago and 4 days back reach beyond the 30 days of visits kept.
        (json!({"person_id": p, "onset_at": (Utc::now() - Duration::days(28)).to_rfc3339()}), "onset_at"),
        (json!({"id_number": id_number("320508", "19850101", 99), "onset_at": at}), "id_number"),
    ] {
        let (status, e) = s.post("/api/v1/cases", &admin, body.clone()).await;
        assert_eq!(
            (status, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body} → {e}"
        );
    }
    let (status, e) = s.get("/api/v1/cases/999", &admin).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, case) = s
        .post(
            "/api/v1/cases",
            &admin,
            json!({"id_number": id_number("320508", "19850101", 21), "onset_at": at}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_i64().unwrap();
    let (status, e) = s.post(&format!("/api/v1/cases/{id}/apply"), &admin, json!({})).await;
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("trace")),
        "apply before trace"
    );
    let (status, e) = s.get(&format!("/api/v1/cases/{id}/contacts?tier=family"), &admin).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("tier")));
    // A case with no visits at all traces to nothing rather than failing.
    let (status, traced) = s.post(&format!("/api/v1/cases/{id}/trace"), &admin, json!({})).await;
    assert_eq!(
        (status, &traced["counts"]),
        (StatusCode::OK, &json!({"close": 0, "secondary": 0, "companion": 0}))
    );
    let staff = s.user(&admin, "staff", "venue_staff", "320508").await;
    assert_eq!(s.get("/api/v1/cases", &staff).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.get("/api/v1/rule-sets", &staff).await.0, StatusCode::FORBIDDEN);
    let grid = s.user(&admin, "grid", "grid_worker", "320508").await;
    assert_eq!(s.post(&format!("/api/v1/cases/{id}/trace"), &grid, json!({})).await.0, StatusCode::FORBIDDEN);
}

on_both_backends!(a_market_case_turns_its_contacts_red, bad_case_input_is_refused);

/// Without the start-up index, the first trace builds one big index over every visit and starts no fold in
/// the background (which would also make the next trace rebuild): the second trace sees the edited category
/// only because the edit itself makes the index stale.
async fn category_edit_on(backend: Backend, name: &str) {
    let Some(s) = TestServer::start_with(backend, name, |c| c.warm_trace_index = false).await else { return };
    a_venue_category_edit_reaches_the_next_trace(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn sqlite_a_venue_category_edit_reaches_the_next_trace() {
    category_edit_on(Backend::Sqlite, "").await;
}

#[tokio::test]
async fn postgres_a_venue_category_edit_reaches_the_next_trace() {
    category_edit_on(Backend::Postgres, "postgres::a_venue_category_edit_reaches_the_next_trace").await;
}
