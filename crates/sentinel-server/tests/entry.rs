//! The entry check end to end: devices, scans, decisions, visits, alerts and their live stream, policies.

mod support;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestServer, id_number};

struct Gate {
    admin: String,
    device: String,
    venue: i64,
    person: i64,
}

/// A mall in 平江社区 with a sentinel device, and a resident tested 20 hours ago with two doses.
async fn gate(s: &TestServer) -> Gate {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let venue = json!({"name": "观前街商场", "category": "commercial_complex", "region_code": "320508001001001", "address": "观前街1号"});
    let (_, v) = s.post("/api/v1/venues", &admin, venue).await;
    let (status, d) = s
        .post(
            &format!("/api/v1/venues/{}/devices", v["id"]),
            &admin,
            json!({"name": "东门哨兵", "kind": "sentinel"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert!(d["token"].as_str().unwrap().starts_with("dev_"));
    let (_, p) = s
        .post("/api/v1/persons", &admin, json!({"id_number": id_number("320508", "19800101", 31), "name": "陈静", "region_code": "320508001001001"}))
        .await;
    let person = p["id"].as_i64().unwrap();
    let sampled = (Utc::now() - Duration::hours(20)).to_rfc3339();
    let reported = (Utc::now() - Duration::hours(14)).to_rfc3339();
    let nat = json!({"person_id": person, "sampled_at": sampled, "reported_at": reported, "result": "negative", "kind": "pcr"});
    assert_eq!(s.post("/api/v1/health/nat-results", &admin, nat).await.0, StatusCode::CREATED);
    for dose in 1..=2 {
        let v = json!({"person_id": person, "dose": dose, "date": format!("2021-0{}-01", dose + 3), "product": "灭活疫苗", "manufacturer": "北京生物"});
        s.post("/api/v1/health/vaccinations", &admin, v).await;
    }
    Gate { admin, device: d["token"].as_str().unwrap().to_owned(), venue: v["id"].as_i64().unwrap(), person }
}

async fn code(s: &TestServer, g: &Gate) -> String {
    let (_, c) = s.post(&format!("/api/v1/persons/{}/health-code", g.person), &g.admin, json!({})).await;
    c["token"].as_str().unwrap().to_owned()
}

async fn scan(s: &TestServer, g: &Gate, body: Value) -> (StatusCode, Value) {
    s.post("/api/v1/device/scans", &g.device, body).await
}

fn reasons(v: &Value) -> Vec<&str> {
    v["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect()
}

/// The walk-through: green passes; red is denied with an alert for that grid; fever is denied;
/// no mask is reminded; retries are the same visit; bad input gets its answer.
async fn gate_decides_records_and_alerts(s: &TestServer) {
    let g = gate(s).await;
    let token = code(s, &g).await;
    let (status, pass) = scan(
        s,
        &g,
        json!({"idempotency_key": "k1", "health_code": token, "temperature_c": 36.5, "mask": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pass}");
    assert_eq!(
        (pass["outcome"].as_str(), pass["gate"].as_str(), pass["policy_version"].as_str()),
        (Some("pass"), Some("open"), Some("default"))
    );
    assert_eq!(
        (pass["masked_name"].as_str(), pass["prompt"]["zh"].as_str()),
        (Some("陈*"), Some("验证通过，请通行"))
    );
    assert!(pass.get("ignored_fields").is_none(), "nothing ignored: {pass}");
    // A field the server does not know is named back, so a misspelled reading cannot skip a check unseen.
    let body =
        json!({"idempotency_key": "k1b", "health_code": token, "temprature_c": 39.0, "firmware": "2.1"});
    let (status, misspelt) = scan(s, &g, body).await;
    assert_eq!(status, StatusCode::OK, "{misspelt}");
    assert_eq!(misspelt["ignored_fields"], json!(["firmware", "temprature_c"]));
    // A retry carrying readings that would deny now is still the first scan: its answer stands.
    let (_, again) = scan(
        s,
        &g,
        json!({"idempotency_key": "k1", "health_code": token, "temperature_c": 38.6, "mask": false}),
    )
    .await;
    assert_eq!(
        (again["visit_id"].clone(), again["duplicate"].as_bool()),
        (pass["visit_id"].clone(), Some(true))
    );
    assert_eq!(
        (again["outcome"].as_str(), again["gate"].as_str(), reasons(&again)),
        (Some("pass"), Some("open"), Vec::<&str>::new()),
        "{again}"
    );
    assert_eq!(again["prompt"], pass["prompt"], "a retry hears the same words");

    let (_, fever) = scan(
        s,
        &g,
        json!({"idempotency_key": "k2", "health_code": token, "temperature_c": 38.2, "mask": true}),
    )
    .await;
    assert_eq!((fever["outcome"].as_str(), reasons(&fever)), (Some("deny"), vec!["fever"]));
    assert_eq!(fever["prompt"]["zh"], "体温异常，请复测");
    let (_, masked) = scan(
        s,
        &g,
        json!({"idempotency_key": "k3", "health_code": token, "temperature_c": 36.4, "mask": false}),
    )
    .await;
    assert_eq!(
        (masked["outcome"].as_str(), masked["gate"].as_str(), masked["prompt"]["zh"].as_str()),
        (Some("remind"), Some("open"), Some("请佩戴口罩"))
    );

    let red = json!({"person_id": g.person, "colour": "red", "reason": "密接", "valid_until": (Utc::now() + Duration::days(7)).to_rfc3339()});
    s.post("/api/v1/health/code-assignments", &g.admin, red).await;
    let red_token = code(s, &g).await;
    let (_, denied) = scan(
        s,
        &g,
        json!({"idempotency_key": "k4", "health_code": red_token, "temperature_c": 36.5, "mask": true}),
    )
    .await;
    assert_eq!(
        (denied["outcome"].as_str(), reasons(&denied), denied["prompt"]["zh"].as_str()),
        (Some("deny"), vec!["code_red"], Some("健康码异常，禁止通行"))
    );
    // The code shown before the change is denied too: the gate decides on the live status.
    let (_, old_code) = scan(s, &g, json!({"idempotency_key": "k5", "health_code": token})).await;
    assert_eq!(reasons(&old_code), ["code_red"]);

    let grid = s.user(&g.admin, "grid1", "grid_worker", "320508001001").await;
    let other = s.user(&g.admin, "grid2", "grid_worker", "320508001002").await;
    let (_, open) = s.get("/api/v1/alerts?status=open", &grid).await;
    let kinds: Vec<&str> =
        open["items"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["code_red", "code_red", "fever"], "newest first");
    assert_eq!(open["items"][0]["person_id"], g.person);
    assert_eq!(s.get("/api/v1/alerts?status=open", &other).await.1["items"].as_array().unwrap().len(), 0);
    let id = open["items"][0]["id"].as_i64().unwrap();
    assert_eq!(s.post(&format!("/api/v1/alerts/{id}/ack"), &other, json!({})).await.0, StatusCode::FORBIDDEN);
    let (status, acked) = s.post(&format!("/api/v1/alerts/{id}/ack"), &grid, json!({})).await;
    assert_eq!((status, acked["status"].as_str()), (StatusCode::OK, Some("acknowledged")));
    let (_, resolved) =
        s.post(&format!("/api/v1/alerts/{id}/resolve"), &grid, json!({"note": "已联系本人"})).await;
    assert_eq!(
        (resolved["status"].as_str(), resolved["note"].as_str()),
        (Some("resolved"), Some("已联系本人"))
    );
    assert_eq!(s.post(&format!("/api/v1/alerts/{id}/ack"), &grid, json!({})).await.0, StatusCode::CONFLICT);

    let (_, visits) = s.get(&format!("/api/v1/visits?venue_id={}", g.venue), &g.admin).await;
    let items = visits["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "k1 once, k1b, k2–k5: {visits}");
    assert_eq!(
        (items[0]["channel"].as_str(), items[0]["outcome"].as_str()),
        (Some("device_code"), Some("pass"))
    );
    assert_eq!(items[0]["left_at_inferred"], true);
    let at = |field: &str| chrono::DateTime::parse_from_rfc3339(items[0][field].as_str().unwrap()).unwrap();
    assert!(at("left_at") > at("entered_at"), "inferred from the mall's default stay: {}", items[0]);
    let (_, by_person) =
        s.get(&format!("/api/v1/visits?person_id={}&from=2000-01-01%2000:00:00", g.person), &g.admin).await;
    assert_eq!(by_person["items"].as_array().unwrap().len(), 6);

    // Bad input.
    let (_, forged) = scan(s, &g, json!({"idempotency_key": "k6", "health_code": "SN1:NOTACODE"})).await;
    assert_eq!((forged["outcome"].as_str(), reasons(&forged)), (Some("deny"), vec!["malformed"]));
    let (status, e) =
        scan(s, &g, json!({"idempotency_key": "k7", "health_code": red_token, "temperature_c": 80.0})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("temperature_c")));
    let (status, _) =
        scan(s, &g, json!({"idempotency_key": "k8", "health_code": red_token, "venue_id": g.venue + 1000}))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .post(
            "/api/v1/device/scans",
            "dev_unknown",
            json!({"idempotency_key": "k9", "health_code": red_token}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .post("/api/v1/device/scans", &g.admin, json!({"idempotency_key": "k9", "health_code": red_token}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a user token is not a device token");

    // A lost device gets a new token; the old one stops at once, and other venues' staff cannot do it.
    let (_, devices) = s.get(&format!("/api/v1/devices?venue_id={}", g.venue), &g.admin).await;
    let device_id = devices["items"][0]["id"].as_i64().unwrap();
    let (status, fresh) = s.post(&format!("/api/v1/devices/{device_id}/token"), &g.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let (status, _) = s
        .post("/api/v1/device/scans", &g.device, json!({"idempotency_key": "r1", "health_code": red_token}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the replaced token");
    let renewed = fresh["token"].as_str().unwrap();
    let (status, _) = s
        .post("/api/v1/device/scans", renewed, json!({"idempotency_key": "r2", "health_code": red_token}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let elsewhere = s.user(&g.admin, "mgr2", "venue_manager", &format!("venue:{}", g.venue + 1)).await;
    assert_eq!(
        s.post(&format!("/api/v1/devices/{device_id}/token"), &elsewhere, json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post("/api/v1/devices/-9223372036854775808/token", &g.admin, json!({})).await.0,
        StatusCode::NOT_FOUND
    );

    // A device taken out of service: its token is revoked (204) and refused at once; the listing says so;
    // only its venue's managers may; a new token brings it back.
    let revoke = format!("/api/v1/devices/{device_id}/token");
    assert_eq!(s.call(Method::DELETE, &revoke, Some(&elsewhere), None).await.0, StatusCode::FORBIDDEN);
    let (status, body) = s.call(Method::DELETE, &revoke, Some(&g.admin), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, problem) = s
        .post("/api/v1/device/scans", renewed, json!({"idempotency_key": "r3", "health_code": red_token}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the revoked token: {problem}");
    let (_, devices) = s.get(&format!("/api/v1/devices?venue_id={}", g.venue), &g.admin).await;
    assert_eq!(devices["items"][0]["token_active"], json!(false));
    let (_, fresh) = s.post(&revoke, &g.admin, json!({})).await;
    assert_eq!(fresh["token_active"], json!(true));
    let renewed = fresh["token"].as_str().unwrap();
    let (_, devices) = s.get(&format!("/api/v1/devices?venue_id={}", g.venue), &g.admin).await;
    assert_eq!(devices["items"][0]["token_active"], json!(true));
    let g = Gate { device: renewed.to_owned(), ..g };

    // An elderly person by ID card with no vaccination: reminded, and registration prompted.
    let elder = id_number("320508", "19580505", 41);
    let (_, p) = s
        .post(
            "/api/v1/persons",
            &g.admin,
            json!({"id_number": elder, "name": "黄建国", "region_code": "320508001001001"}),
        )
        .await;
    let nat = json!({"person_id": p["id"], "sampled_at": (Utc::now() - Duration::hours(5)).to_rfc3339(), "reported_at": (Utc::now() - Duration::hours(1)).to_rfc3339(), "result": "negative", "kind": "pcr"});
    s.post("/api/v1/health/nat-results", &g.admin, nat).await;
    let card = json!({"idempotency_key": "k10", "id_card": {"id_number": elder, "name": "黄建国", "face_match": 0.92}, "temperature_c": 36.6, "mask": true});
    let (_, elderly) = scan(s, &g, card).await;
    assert_eq!(
        (elderly["outcome"].as_str(), reasons(&elderly), elderly["registration_prompt"].as_bool()),
        (Some("remind"), vec!["unvaccinated"], Some(true))
    );
    // A medical exemption on record: no reminder and no registration prompt while it covers the day.
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let exemption = json!({"id_number": elder, "reason": "contraindication", "issued_by": "苏州市立医院", "from": (today - Duration::days(30)).to_string()});
    let (status, stored) = s.post("/api/v1/health/vaccine-exemptions", &g.admin, exemption.clone()).await;
    assert_eq!((status, stored["stored"].as_bool()), (StatusCode::CREATED, Some(true)), "{stored}");
    assert_eq!(s.post("/api/v1/health/vaccine-exemptions", &g.admin, exemption).await.1["stored"], false);
    let health = s.get(&format!("/api/v1/persons/{}/health", p["id"]), &g.admin).await.1;
    assert_eq!((health["vaccine_doses"].as_u64(), health["vaccine_exempt"].as_bool()), (Some(0), Some(true)));
    let card = json!({"idempotency_key": "k11", "id_card": {"id_number": elder, "name": "黄建国", "face_match": 0.92}, "temperature_c": 36.6, "mask": true});
    let (_, exempt) = scan(s, &g, card).await;
    assert_eq!(
        (exempt["outcome"].as_str(), reasons(&exempt), exempt["registration_prompt"].as_bool()),
        (Some("pass"), vec![], Some(false)),
        "{exempt}"
    );
    // Her 24-hour paper code, read by the device: a paper-code visit.
    let (_, paper) = s.post(&format!("/api/v1/persons/{}/paper-code", p["id"]), &g.admin, json!({})).await;
    let body =
        json!({"idempotency_key": "k12", "paper_code": paper["token"], "temperature_c": 36.6, "mask": true});
    let (status, by_paper) = scan(s, &g, body).await;
    assert_eq!((status, by_paper["outcome"].as_str()), (StatusCode::OK, Some("pass")), "{by_paper}");
    let (_, hers) = s.get(&format!("/api/v1/visits?person_id={}", p["id"]), &g.admin).await;
    let channels: Vec<(&Value, &str)> = hers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (&v["id"], v["channel"].as_str().unwrap()))
        .collect();
    assert_eq!(
        channels,
        [
            (&elderly["visit_id"], "device_id_card"),
            (&exempt["visit_id"], "device_id_card"),
            (&by_paper["visit_id"], "paper_code")
        ],
        "oldest first"
    );
    let ended = json!({"person_id": p["id"], "reason": "postponed", "issued_by": "苏州市立医院", "from": today.to_string(), "until": (today - Duration::days(1)).to_string()});
    let (status, e) = s.post("/api/v1/health/vaccine-exemptions", &g.admin, ended).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("until")));
    let unknown =
        json!({"person_id": p["id"], "reason": "feels_fine", "issued_by": "x", "from": today.to_string()});
    let (status, e) = s.post("/api/v1/health/vaccine-exemptions", &g.admin, unknown).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
}

/// A grid worker's live stream receives the alert of a red code at that grid's venue within a second.
async fn alerts_stream_live(s: &TestServer) {
    let g = gate(s).await;
    let grid = s.user(&g.admin, "grid1", "grid_worker", "320508001001001").await;
    let mut stream =
        s.http.get(format!("{}/api/v1/alerts/stream", s.base)).bearer_auth(&grid).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let red = json!({"person_id": g.person, "colour": "red", "reason": "密接"});
    s.post("/api/v1/health/code-assignments", &g.admin, red).await;
    let token = code(s, &g).await;
    let started = std::time::Instant::now();
    scan(s, &g, json!({"idempotency_key": "s1", "health_code": token, "temperature_c": 36.5, "mask": true}))
        .await;
    let received = read_until(&mut stream, "code_red", 1).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(received.contains("event: alert") && received.contains("观前街商场"), "{received}");
}

/// An alert nobody acknowledges climbs from the venue's grid to its community, then its street: each
/// level's stream gets it at its turn, not before.
async fn unacknowledged_alerts_escalate(s: &TestServer) {
    let g = gate(s).await;
    let community = s.user(&g.admin, "community1", "grid_worker", "320508001001").await;
    let street = s.user(&g.admin, "street1", "grid_worker", "320508001").await;
    let (json_url, json_seen) = receiver().await;
    let (sms_url, sms_seen) = receiver().await;
    let secret = "a-long-shared-secret";
    for (url, format) in [(&json_url, "json"), (&sms_url, "sms")] {
        let (status, hook) = s
            .post("/api/v1/webhooks", &g.admin, json!({"url": url, "secret": secret, "format": format}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
    }
    let listen =
        |token: &str| s.http.get(format!("{}/api/v1/alerts/stream", s.base)).bearer_auth(token).send();
    let mut community_stream = listen(&community).await.unwrap();
    let mut stream = listen(&street).await.unwrap();
    s.post(
        "/api/v1/health/code-assignments",
        &g.admin,
        json!({"person_id": g.person, "colour": "red", "reason": "密接"}),
    )
    .await;
    let token = code(s, &g).await;
    scan(s, &g, json!({"idempotency_key": "e1", "health_code": token, "temperature_c": 36.5, "mask": true}))
        .await;
    let early = tokio::time::timeout(std::time::Duration::from_millis(400), community_stream.chunk()).await;
    assert!(early.is_err(), "the community hears nothing before escalation: {early:?}");
    let escalate = |minutes: i64| {
        sentinel_server::entry::escalation::escalate_untouched_since(
            &s.state,
            Utc::now() + Duration::minutes(minutes),
        )
    };
    assert_eq!(escalate(1).await, 1);
    let received = read_until(&mut community_stream, "code_red", 2).await;
    assert!(received.contains("\"level\":1"), "{received}");
    assert!(received.contains("\"audience_region\":\"320508001001\""), "{received}");
    let early = tokio::time::timeout(std::time::Duration::from_millis(400), stream.chunk()).await;
    assert!(early.is_err(), "the street hears nothing before the second escalation: {early:?}");
    assert_eq!(escalate(20).await, 1);
    let received = read_until(&mut stream, "code_red", 2).await;
    assert!(received.contains("\"level\":2"), "{received}");
    let (_, alerts) = s.get("/api/v1/alerts?status=open", &street).await;
    assert_eq!(
        (alerts["items"][0]["level"].as_u64(), alerts["items"][0]["audience_region"].as_str()),
        (Some(2), Some("320508001"))
    );
    // The webhook and the SMS gateway hear of it at each level: raised, the community's, the street's.
    let deliveries = wait_for_count(&json_seen, 3).await;
    let levels: Vec<Value> = deliveries
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap()["alert"]["level"].clone())
        .collect();
    assert!(levels.contains(&json!(1)) && levels.contains(&json!(2)), "{levels:?}");
    let texts = wait_for_count(&sms_seen, 3).await;
    let (headers, body) = &texts[2];
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, body);
    let expected = format!("sha256={}", hex::encode(hmac::Mac::finalize(mac).into_bytes()));
    assert_eq!(headers["x-sentinel-signature"].to_str().unwrap(), expected);
    let sms: Value = serde_json::from_slice(body).unwrap();
    let text = sms["text"].as_str().unwrap();
    assert!(text.contains("红码") && text.contains("观前街商场") && text.chars().count() <= 70, "{sms}");
    let texts: Vec<String> = texts
        .iter()
        .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(texts[1].contains("已升级至社区") && texts[2].contains("已升级至街道"), "{texts:?}");
}

/// Policies are drafted, published with an effective time, and decide the next scan; a venue may only tighten.
async fn policies_are_versioned_and_published(s: &TestServer) {
    let g = gate(s).await;
    let (status, draft) = s
        .post("/api/v1/policies", &g.admin, json!({"scope": "city", "policy": {"nat_max_age_hours": 12}}))
        .await;
    assert_eq!(
        (status, draft["status"].as_str(), draft["version"].as_i64()),
        (StatusCode::CREATED, Some("draft"), Some(1)),
        "{draft}"
    );
    assert_eq!(draft["policy"]["temperature_max_c"], 37.3, "missing fields take the city default");
    let token = code(s, &g).await;
    let (_, before) = scan(
        s,
        &g,
        json!({"idempotency_key": "p1", "health_code": token, "temperature_c": 36.5, "mask": true}),
    )
    .await;
    assert_eq!(before["outcome"], "pass", "a draft changes nothing");
    let (status, published) =
        s.post(&format!("/api/v1/policies/{}/publish", draft["id"]), &g.admin, json!({})).await;
    assert_eq!((status, published["status"].as_str()), (StatusCode::OK, Some("published")), "{published}");
    let (_, after) = scan(
        s,
        &g,
        json!({"idempotency_key": "p2", "health_code": token, "temperature_c": 36.5, "mask": true}),
    )
    .await;
    assert_eq!((reasons(&after), after["policy_version"].as_str()), (vec!["nat_expired"], Some("city v1")));
    let (_, later) = s.post("/api/v1/policies", &g.admin, json!({"scope": "city"})).await;
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();
    let (status, v2) = s
        .post(
            &format!("/api/v1/policies/{}/publish", later["id"]),
            &g.admin,
            json!({"effective_from": tomorrow}),
        )
        .await;
    assert_eq!(
        (status, v2["status"].as_str(), v2["version"].as_i64()),
        (StatusCode::OK, Some("published"), Some(2)),
        "{v2}"
    );
    let (_, still) = scan(s, &g, json!({"idempotency_key": "p3", "health_code": token})).await;
    assert_eq!(still["policy_version"], "city v1", "v2 takes over tomorrow");

    let (_, loose) = s
        .post(
            "/api/v1/policies",
            &g.admin,
            json!({"scope": format!("venue:{}", g.venue), "policy": {"nat_max_age_hours": 72}}),
        )
        .await;
    let (status, e) = s.post(&format!("/api/v1/policies/{}/publish", loose["id"]), &g.admin, json!({})).await;
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("policy.nat_max_age_hours")),
        "{e}"
    );
    // A venue that tightened stays bound by a city that tightens after it.
    let (_, strict) = s
        .post(
            "/api/v1/policies",
            &g.admin,
            json!({"scope": format!("venue:{}", g.venue), "nat_max_age_hours": 12, "mask": "deny"}),
        )
        .await;
    let (status, _) =
        s.post(&format!("/api/v1/policies/{}/publish", strict["id"]), &g.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let venue_label = format!("venue:{} v2", g.venue);
    let body = json!({"idempotency_key": "p4", "health_code": token, "temperature_c": 37.1, "mask": true});
    let (_, own) = scan(s, &g, body).await;
    assert_eq!(
        (reasons(&own), own["policy_version"].as_str()),
        (vec!["nat_expired"], Some(venue_label.as_str()))
    );
    let (_, city) = s
        .post(
            "/api/v1/policies",
            &g.admin,
            json!({"scope": "city", "nat_max_age_hours": 12, "temperature_max_c": 37.0}),
        )
        .await;
    let (status, _) = s.post(&format!("/api/v1/policies/{}/publish", city["id"]), &g.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"idempotency_key": "p5", "health_code": token, "temperature_c": 37.1, "mask": true});
    let (_, met) = scan(s, &g, body).await;
    assert_eq!(
        (reasons(&met), met["policy_version"].as_str()),
        (vec!["nat_expired", "fever"], Some(format!("{venue_label} ∧ city v3").as_str())),
        "{met}"
    );
    // The visit keeps the label it was decided under; a retry of the earlier scan answers with its own.
    let (_, visits) = s.get(&format!("/api/v1/visits?venue_id={}", g.venue), &g.admin).await;
    let stored = visits["items"].as_array().unwrap().iter().find(|v| v["id"] == met["visit_id"]).unwrap();
    assert_eq!(stored["policy_version"].as_str(), Some(format!("{venue_label} ∧ city v3").as_str()));
    let body = json!({"idempotency_key": "p4", "health_code": token, "temperature_c": 37.1, "mask": true});
    let (_, again) = scan(s, &g, body).await;
    assert_eq!(
        (again["duplicate"].as_bool(), again["policy_version"].as_str()),
        (Some(true), Some(venue_label.as_str()))
    );
    let (status, e) = s
        .post("/api/v1/policies", &g.admin, json!({"scope": "city", "policy": {"temperature_max_c": 45}}))
        .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("policy.temperature_max_c"))
    );
    let grid = s.user(&g.admin, "grid1", "grid_worker", "320508001001").await;
    assert_eq!(s.post("/api/v1/policies", &grid, json!({"scope": "city"})).await.0, StatusCode::FORBIDDEN);
    // Fields may stand beside the scope, and `mask` is shorthand for the mask rule.
    let (status, flat) = s
        .post(
            "/api/v1/policies",
            &g.admin,
            json!({"scope": "category:supermarket", "mask": "deny", "nat_max_age_hours": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flat}");
    assert_eq!(
        (flat["policy"]["on_no_mask"]["effect"].as_str(), flat["policy"]["nat_max_age_hours"].as_u64()),
        (Some("deny"), Some(24))
    );
    let (status, e) =
        s.post("/api/v1/policies", &g.admin, json!({"scope": "city", "mask": "sometimes"})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("policy.mask")));
    let (_, list) = s.get("/api/v1/policies", &g.admin).await;
    assert_eq!(list["items"][0]["status"], "builtin");
}

type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A local webhook receiver that records what it is sent.
async fn receiver() -> (String, Received) {
    let received: Received = Default::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |uri: axum::http::Uri, mut headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    // DingTalk's signature travels in the query: kept beside the headers for the test to check.
                    let query = uri.query().unwrap_or_default().parse().unwrap();
                    headers.insert("x-received-query", query);
                    store.lock().unwrap().push((headers, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn wait_for(received: &Received) -> (axum::http::HeaderMap, Vec<u8>) {
    for _ in 0..40 {
        if let Some(first) = received.lock().unwrap().first().cloned() {
            return first;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing delivered within 4 s");
}

/// Reads the SSE stream until `needle` arrives, each chunk within `secs` seconds; returns what was read.
async fn read_until(stream: &mut reqwest::Response, needle: &str, secs: u64) -> String {
    let mut received = String::new();
    while !received.contains(needle) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(secs), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle} within {secs} s; got {received}"));
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    received
}

async fn wait_for_count(received: &Received, n: usize) -> Vec<(axum::http::HeaderMap, Vec<u8>)> {
    for _ in 0..40 {
        let seen = received.lock().unwrap().clone();
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} deliveries within 4 s");
}

/// Alerts reach a webhook signed with HMAC-SHA256, and WeCom and DingTalk robots in their own formats.
async fn webhooks_receive_signed_alerts(s: &TestServer) {
    use hmac::Mac;
    let g = gate(s).await;
    let (json_url, json_seen) = receiver().await;
    let (wecom_url, wecom_seen) = receiver().await;
    let secret = "s3cret";
    let (status, hook) = s
        .post("/api/v1/webhooks", &g.admin, json!({"url": json_url, "secret": secret, "format": "json"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    s.post("/api/v1/webhooks", &g.admin, json!({"url": wecom_url, "secret": "", "format": "wecom"})).await;
    let (dingtalk_url, dingtalk_seen) = receiver().await;
    let robot_secret = "SEC-robot";
    let body = json!({"url": dingtalk_url, "secret": robot_secret, "format": "dingtalk"});
    assert_eq!(s.post("/api/v1/webhooks", &g.admin, body).await.0, StatusCode::CREATED);
    // A district's command centre registers hooks for its own region only, and sees only those.
    let district = s.user(&g.admin, "gusu", "command_centre", "320508").await;
    let (district_url, district_seen) = receiver().await;
    let (status, own) =
        s.post("/api/v1/webhooks", &district, json!({"url": district_url, "secret": secret})).await;
    assert_eq!((status, own["region_code"].as_str()), (StatusCode::CREATED, Some("320508")), "{own}");
    let (community_url, community_seen) = receiver().await;
    let body = json!({"url": community_url, "secret": secret, "region_code": "320508001001"});
    assert_eq!(s.post("/api/v1/webhooks", &district, body).await.0, StatusCode::CREATED);
    let (other_url, other_seen) = receiver().await;
    let body = json!({"url": other_url, "secret": secret, "region_code": "320508001002"});
    assert_eq!(s.post("/api/v1/webhooks", &g.admin, body).await.0, StatusCode::CREATED);
    let body = json!({"url": json_url, "secret": secret, "region_code": "320506"});
    assert_eq!(
        s.post("/api/v1/webhooks", &district, body).await.0,
        StatusCode::FORBIDDEN,
        "another district"
    );
    let body = json!({"url": json_url, "secret": secret, "region_code": "320508999"});
    assert_eq!(s.post("/api/v1/webhooks", &district, body).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, theirs) = s.get("/api/v1/webhooks", &district).await;
    let regions: Vec<&str> =
        theirs["items"].as_array().unwrap().iter().map(|h| h["region_code"].as_str().unwrap()).collect();
    assert_eq!(
        regions,
        ["320508", "320508001001", "320508001002"],
        "their district's, not the deployment-wide ones"
    );
    let (_, all) = s.get("/api/v1/webhooks", &g.admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(s.get("/api/v1/webhooks/dead-letters", &district).await.0, StatusCode::OK);
    let grid = s.user(&g.admin, "grid7", "grid_worker", "320508001001").await;
    assert_eq!(s.get("/api/v1/webhooks", &grid).await.0, StatusCode::FORBIDDEN, "no ManageWebhooks");
    let (status, e) = s.post("/api/v1/webhooks", &g.admin, json!({"url": "ftp://x", "secret": secret})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("url")));
    let (status, e) = s.post("/api/v1/webhooks", &g.admin, json!({"url": json_url, "secret": ""})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret")));

    // The venue's own grid, whose hook hears the alert when it is raised.
    let (grid_url, grid_seen) = receiver().await;
    let body = json!({"url": grid_url, "secret": secret, "region_code": "320508001001001"});
    assert_eq!(s.post("/api/v1/webhooks", &g.admin, body).await.0, StatusCode::CREATED);

    let red = json!({"person_id": g.person, "colour": "red", "reason": "密接"});
    s.post("/api/v1/health/code-assignments", &g.admin, red).await;
    let token = code(s, &g).await;
    scan(s, &g, json!({"idempotency_key": "w1", "health_code": token, "temperature_c": 36.5, "mask": true}))
        .await;

    let (headers, body) = wait_for(&json_seen).await;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-sentinel-signature"].to_str().unwrap(), expected);
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (event["alert"]["kind"].as_str(), event["alert"]["kind_zh"].as_str()),
        (Some("code_red"), Some("红码"))
    );
    assert_eq!(event["alert"]["venue_name"], "观前街商场");
    let (_, robot) = wait_for(&wecom_seen).await;
    let robot: Value = serde_json::from_slice(&robot).unwrap();
    assert_eq!(robot["msgtype"], "markdown");
    assert!(robot["markdown"]["content"].as_str().unwrap().contains("红码"));
    // DingTalk's robot: its markdown message, signed in the query as its robots expect.
    let (headers, robot) = wait_for(&dingtalk_seen).await;
    let robot: Value = serde_json::from_slice(&robot).unwrap();
    assert_eq!(
        (robot["msgtype"].as_str(), robot["markdown"]["title"].as_str()),
        (Some("markdown"), Some("数字哨兵告警"))
    );
    assert!(robot["markdown"]["text"].as_str().unwrap().contains("观前街商场"), "{robot}");
    let query = headers["x-received-query"].to_str().unwrap();
    let url = reqwest::Url::parse(&format!("http://robot/?{query}")).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(robot_secret.as_bytes()).unwrap();
    mac.update(format!("{}\n{robot_secret}", pairs["timestamp"]).as_bytes());
    let sign =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac.finalize().into_bytes());
    assert_eq!(pairs["sign"], sign, "{query}");
    let sent_at = pairs["timestamp"].parse::<i64>().unwrap();
    assert!((Utc::now().timestamp_millis() - sent_at).abs() < 60_000, "a millisecond timestamp: {sent_at}");
    // The venue's grid hears it at once, its community only after one escalation (another community
    // never), the district after three. The community's delivery would have been owed with the grid's
    // and sent in the same round, so once the grid's has arrived and a few more rounds have passed, none
    // means none.
    wait_for(&grid_seen).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(community_seen.lock().unwrap().is_empty(), "the grid hears first, not the community");
    sentinel_server::entry::escalation::escalate_untouched_since(&s.state, Utc::now() + Duration::hours(1))
        .await;
    wait_for(&community_seen).await;
    assert!(other_seen.lock().unwrap().is_empty() && district_seen.lock().unwrap().is_empty());
    for hours in [2, 3] {
        sentinel_server::entry::escalation::escalate_untouched_since(
            &s.state,
            chrono::Utc::now() + chrono::Duration::hours(hours),
        )
        .await;
    }
    let (_, body) = wait_for(&district_seen).await;
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["alert"]["level"], 3, "{event}");
    assert_eq!(event["alert"]["audience_region"], "320508", "{event}");
    assert!(other_seen.lock().unwrap().is_empty());
}

/// Staff register an unvaccinated elder; the home community and the category's department both get the report.
async fn unvaccinated_registration_is_reported(s: &TestServer) {
    let g = gate(s).await;
    let staff = s.user(&g.admin, "staff1", "venue_staff", &format!("venue:{}", g.venue)).await;
    let community = s.user(&g.admin, "grid2", "grid_worker", "320508001002").await;
    let mut stream =
        s.http.get(format!("{}/api/v1/alerts/stream", s.base)).bearer_auth(&community).send().await.unwrap();
    let body = json!({"name": "黄建国", "phone": "13812345678", "address": "平江路3号", "region_code": "320508001002", "reason": "基础疾病，暂缓接种", "idempotency_key": "tablet-1:0001"});
    let (status, reg) =
        s.post(&format!("/api/v1/venues/{}/unvaccinated", g.venue), &staff, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    read_until(&mut stream, "unvaccinated_report", 2).await;
    // The tablet retries after a timeout: the same registration, no second report.
    let (status, again) =
        s.post(&format!("/api/v1/venues/{}/unvaccinated", g.venue), &staff, body.clone()).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &reg["id"]), "{again}");
    assert_eq!(
        (reg["name"].as_str(), reg["phone"].as_str()),
        (Some("黄**"), Some("138****5678")),
        "masked in answers"
    );
    let department = s.user(&g.admin, "commerce", "supervisor", "category:commercial_complex").await;
    for token in [&community, &department] {
        let (_, list) = s.get("/api/v1/unvaccinated", token).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        let (_, alerts) = s.get("/api/v1/alerts?status=open", token).await;
        assert!(
            alerts["items"].as_array().unwrap().iter().any(|a| a["kind"] == "unvaccinated_report"),
            "{alerts}"
        );
    }
    let elsewhere = s.user(&g.admin, "other", "grid_worker", "320506").await;
    assert_eq!(s.get("/api/v1/unvaccinated", &elsewhere).await.1["items"].as_array().unwrap().len(), 0);
    let missing =
        s.post(&format!("/api/v1/venues/{}/unvaccinated", g.venue + 1000), &staff, body.clone()).await.0;
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let shop = json!({"name": "平江路水果店", "category": "fruit_shop", "region_code": "320508001001001", "address": "平江路5号"});
    let (_, other) = s.post("/api/v1/venues", &g.admin, shop).await;
    let foreign =
        s.post(&format!("/api/v1/venues/{}/unvaccinated", other["id"]), &staff, body.clone()).await.0;
    assert_eq!(foreign, StatusCode::FORBIDDEN, "staff register only at their own venue");
    // A person on record: reported to the home the registry knows (a grid), at once to its community; the
    // staff cannot tell the ID is on record.
    let home = s.user(&g.admin, "grid1", "grid_worker", "320508001001").await;
    let mut home_stream =
        s.http.get(format!("{}/api/v1/alerts/stream", s.base)).bearer_auth(&home).send().await.unwrap();
    let on_record = json!({"name": "陈静", "id_number": id_number("320508", "19800101", 31), "region_code": "320508001002", "reason": "过敏体质"});
    let (status, linked) =
        s.post(&format!("/api/v1/venues/{}/unvaccinated", g.venue), &staff, on_record).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    assert_eq!(
        (linked["home_region"].as_str(), linked["person_id"].as_i64()),
        (Some("320508001001001"), None)
    );
    let heard = read_until(&mut home_stream, "unvaccinated_report", 2).await;
    assert!(heard.contains("\"region_code\":\"320508001001\""), "raised in the home's community: {heard}");
    let (_, theirs) = s.get("/api/v1/unvaccinated", &home).await;
    assert_eq!(theirs["items"][0]["person_id"].as_i64(), Some(g.person), "{theirs}");
    let (status, e) = s
        .post(
            &format!("/api/v1/venues/{}/unvaccinated", g.venue),
            &staff,
            json!({"name": "x", "region_code": "320508", "reason": ""}),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
}

on_both_backends!(
    unacknowledged_alerts_escalate,
    unvaccinated_registration_is_reported,
    gate_decides_records_and_alerts,
    alerts_stream_live,
    policies_are_versioned_and_published,
    webhooks_receive_signed_alerts,
);
