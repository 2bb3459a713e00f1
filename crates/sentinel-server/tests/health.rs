//! The health registry and health codes through the API, on SQLite and PostgreSQL.

mod support;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use sentinel_core::health::Colour;
use sentinel_credential::{
    Algorithm, CredentialKind, HealthClaims, SigningKey, StatusSnapshot, TokenId, TrustList,
};
use serde_json::{Value, json};
use support::{TestServer, id_number};

/// Regions, one person in 平江社区, and the admin's token.
async fn setup(s: &TestServer) -> (String, i64, String) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let id = id_number("320508", "19590307", 21);
    let body = json!({"id_number": id, "name": "黄建国", "region_code": "320508001001001"});
    let (status, p) = s.post("/api/v1/persons", &admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    (admin, p["id"].as_i64().unwrap(), id)
}

async fn verify(s: &TestServer, token: &str, auth: &str) -> Value {
    let (status, v) = s.post("/api/v1/credentials/verify", auth, json!({"token": token})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// A green person's code verifies; the authority turns them red; a new code carries red and the live
/// status says why; an appeal is filed, upheld, and the person is green again.
async fn codes_follow_the_registry(s: &TestServer) {
    let (admin, pid, _) = setup(s).await;
    let (status, code) = s.post(&format!("/api/v1/persons/{pid}/health-code"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    assert_eq!((code["colour"].as_str(), code["refresh_after_seconds"].as_u64()), (Some("green"), Some(60)));
    let v = verify(s, code["token"].as_str().unwrap(), &admin).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["claims"]["status"]["colour"], "green");
    assert_eq!(v["claims"]["person_id"], pid);
    assert_eq!(v["claims"]["subject"], format!("p:{pid}"), "the subject is pseudonymous");

    // The authority feed works with an API token of a command-centre user.
    let command = s.user(&admin, "feed", "command_centre", "320500").await;
    let until = (Utc::now() + Duration::days(7)).to_rfc3339();
    let (status, a) = s
        .post("/api/v1/health/code-assignments", &command, json!({"person_id": pid, "colour": "red", "reason": "确诊病例密接（苏卫通报2024-117）", "valid_until": until}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!((a["source"].as_str(), a["set_by"].as_str()), (Some("authority"), Some("feed")));

    let (_, red) = s.post(&format!("/api/v1/persons/{pid}/health-code"), &admin, json!({})).await;
    assert_eq!(red["colour"], "red");
    assert_eq!(verify(s, red["token"].as_str().unwrap(), &admin).await["claims"]["status"]["colour"], "red");
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!((health["colour"].as_str(), health["colour_label_zh"].as_str()), (Some("red"), Some("红码")));
    assert_eq!(health["reason"], "确诊病例密接（苏卫通报2024-117）");
    assert_eq!(health["history"].as_array().unwrap().len(), 1);

    let (status, appeal) = s
        .post(
            &format!("/api/v1/health/code-assignments/{}/appeals", a["id"]),
            &admin,
            json!({"statement": "当日在外地出差，有车票为证"}),
        )
        .await;
    assert_eq!((status, appeal["status"].as_str()), (StatusCode::CREATED, Some("pending")));
    let (status, decided) = s
        .post(
            &format!("/api/v1/appeals/{}/decision", appeal["id"]),
            &command,
            json!({"upheld": true, "note": "核实行程无交集"}),
        )
        .await;
    assert_eq!((status, decided["status"].as_str()), (StatusCode::OK, Some("upheld")), "{decided}");
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!(health["colour"], "green");
    assert_eq!(health["history"][0]["lifted_by"], "feed");
    assert_eq!(health["appeals"][0]["status"], "upheld");
    let (_, audit) = s.get("/api/v1/audit?action=health.assign", &admin).await;
    assert_eq!(audit["items"][0]["subject"], format!("person:{pid}"));
}

/// NAT results, vaccinations, itineraries and risk areas change the live status at once.
async fn records_change_the_live_status(s: &TestServer) {
    let (admin, pid, id) = setup(s).await;
    let sampled = (Utc::now() - Duration::hours(20)).to_rfc3339();
    let reported = (Utc::now() - Duration::hours(14)).to_rfc3339();
    let nat = json!({"id_number": id, "sampled_at": sampled, "reported_at": reported, "result": "negative", "kind": "pcr", "source_id": "lab-77"});
    let (status, stored) = s.post("/api/v1/health/nat-results", &admin, nat.clone()).await;
    assert_eq!((status, stored["stored"].as_bool()), (StatusCode::CREATED, Some(true)), "{stored}");
    assert_eq!(
        s.post("/api/v1/health/nat-results", &admin, nat).await.1["stored"],
        false,
        "idempotent by source id"
    );
    for dose in 1..=2 {
        let v = json!({"person_id": pid, "dose": dose, "date": format!("2021-0{}-10", dose + 4), "product": "新冠病毒灭活疫苗", "manufacturer": "北京生物"});
        assert_eq!(s.post("/api/v1/health/vaccinations", &admin, v).await.0, StatusCode::CREATED);
    }
    let today = Utc::now().date_naive();
    let stay = json!({"person_id": pid, "region_code": "310115", "from": (today - Duration::days(3)).to_string(), "to": (today - Duration::days(2)).to_string()});
    assert_eq!(s.post("/api/v1/health/itineraries", &admin, stay).await.0, StatusCode::CREATED);
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!(
        (health["last_nat"]["result"].as_str(), health["last_nat"]["age_hours"].as_i64()),
        (Some("negative"), Some(20))
    );
    assert_eq!(
        (health["vaccine_doses"].as_u64(), health["itinerary_risk"].as_bool()),
        (Some(2), Some(false))
    );

    let area = json!({"region_code": "310115", "name": "上海市浦东新区", "level": "high", "effective_from": (Utc::now() - Duration::days(5)).to_rfc3339()});
    let (status, a) = s.post("/api/v1/risk-areas", &admin, area).await;
    assert_eq!((status, a["level_label_zh"].as_str()), (StatusCode::CREATED, Some("高风险")), "{a}");
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!(health["itinerary_risk"], true, "行程卡带星");
    let (_, code) = s.post(&format!("/api/v1/persons/{pid}/health-code"), &admin, json!({})).await;
    let claims = verify(s, code["token"].as_str().unwrap(), &admin).await;
    assert_eq!(claims["claims"]["status"]["itinerary_risk"], true);
    assert_eq!(claims["claims"]["status"]["vaccine_doses"], 2);
    let (status, _) =
        s.call(Method::POST, &format!("/api/v1/risk-areas/{}/end", a["id"]), Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!(health["itinerary_risk"], false, "动态调整: the area ended");

    // Bad input names the field.
    for (body, field) in [
        (
            json!({"person_id": pid, "sampled_at": "2024-02-30 10:00", "reported_at": reported, "result": "negative", "kind": "pcr"}),
            "sampled_at",
        ),
        (
            json!({"person_id": pid, "sampled_at": (Utc::now() + Duration::days(1)).to_rfc3339(), "reported_at": reported, "result": "negative", "kind": "pcr"}),
            "sampled_at",
        ),
        (
            json!({"person_id": pid, "sampled_at": sampled, "reported_at": reported, "result": "maybe", "kind": "pcr"}),
            "result",
        ),
        (
            json!({"sampled_at": sampled, "reported_at": reported, "result": "negative", "kind": "pcr"}),
            "person_id",
        ),
        (
            json!({"id_number": "110105194912310021", "sampled_at": sampled, "reported_at": reported, "result": "negative", "kind": "pcr"}),
            "id_number",
        ),
    ] {
        let (status, p) = s.post("/api/v1/health/nat-results", &admin, body).await;
        assert_eq!((status, p["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{p}");
    }
}

/// Every way a code can be refused gives its own error.
async fn refusals_are_typed(s: &TestServer) {
    let (admin, pid, _) = setup(s).await;
    let claims = |issued: chrono::DateTime<Utc>, life: Duration| HealthClaims {
        issuer: "sentinel".into(),
        subject: format!("p:{pid}"),
        token_id: TokenId::random(),
        issued_at: chrono::DateTime::from_timestamp(issued.timestamp(), 0).unwrap(),
        expires_at: chrono::DateTime::from_timestamp((issued + life).timestamp(), 0).unwrap(),
        kind: CredentialKind::Dynamic,
        status: StatusSnapshot {
            colour: Colour::Green,
            nat_sampled_at: None,
            nat_outcome: None,
            vaccine_doses: 0,
            itinerary_risk: false,
        },
    };
    // An issuer key valid since an hour ago, so that codes can be issued in the past.
    let seasoned = SigningKey::generate(Algorithm::Ed25519);
    let hour_ago = Utc::now() - Duration::hours(1);
    let key = sentinel_store::StoredKey {
        kid: seasoned.kid().to_hex(),
        purpose: sentinel_store::KeyPurpose::Issuer,
        algorithm: "Ed25519".into(),
        public_key: seasoned.public().to_bytes(),
        secret: seasoned.secret_bytes(),
        not_before: chrono::DateTime::from_timestamp(hour_ago.timestamp(), 0).unwrap(),
        not_after: None,
        retired_at: None,
        created_at: Utc::now(),
    };
    let original = s.state.keyring.issuer_kid();
    s.state.store.create_key(&key).await.unwrap();
    s.state.store.set_key_validity(&original, Some(Utc::now()), None).await.unwrap();
    s.state.refresh().await.unwrap();
    assert_eq!(s.state.keyring.issuer_kid(), key.kid);
    let expired = s.state.keyring.issue(&claims(Utc::now() - Duration::minutes(10), Duration::seconds(120)));
    assert_eq!(verify(s, &expired, &admin).await["error"], "expired");
    let future = s.state.keyring.issue(&claims(Utc::now() + Duration::minutes(10), Duration::seconds(120)));
    assert_eq!(verify(s, &future, &admin).await["error"], "not_yet_valid");
    let stranger = SigningKey::generate(Algorithm::Ed25519);
    let foreign = sentinel_credential::issue(&stranger, &claims(Utc::now(), Duration::seconds(120)));
    let v = verify(s, &foreign, &admin).await;
    assert_eq!((v["valid"].as_bool(), v["error"].as_str()), (Some(false), Some("unknown_key")));
    assert!(v["message_zh"].as_str().unwrap().contains("健康码"));
    assert_eq!(verify(s, "SN1:NOT-A-CODE", &admin).await["error"], "malformed");
    assert_eq!(verify(s, &"A".repeat(5000), &admin).await["error"], "malformed");
    let (_, good) = s.post(&format!("/api/v1/persons/{pid}/health-code"), &admin, json!({})).await;
    let token = good["token"].as_str().unwrap();
    let flipped: String = token
        .chars()
        .enumerate()
        .map(|(i, c)| if i == token.len() - 3 { if c == 'A' { 'B' } else { 'A' } } else { c })
        .collect();
    assert_ne!(verify(s, &flipped, &admin).await["valid"], true);

    // A paper code: printable, revocable, and devices learn of the revocation.
    let (status, paper) = s.post(&format!("/api/v1/persons/{pid}/paper-code"), &admin, json!({})).await;
    assert_eq!((status, paper["kind"].as_str()), (StatusCode::OK, Some("paper")));
    let expires = chrono::DateTime::parse_from_rfc3339(paper["expires_at"].as_str().unwrap()).unwrap();
    let issued = chrono::DateTime::parse_from_rfc3339(paper["issued_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - issued, Duration::hours(24));
    let card = s
        .http
        .get(format!("{}{}", s.base, paper["card_url"].as_str().unwrap()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(card.headers()["content-type"], "image/svg+xml; charset=utf-8");
    let card = card.text().await.unwrap();
    assert!(
        card.contains("纸质健康码") && card.contains("黄**") && !card.contains("黄建国"),
        "masked name on the card"
    );
    let paper_token = paper["token"].as_str().unwrap();
    assert_eq!(verify(s, paper_token, &admin).await["valid"], true);
    let token_id = paper["token_id"].as_str().unwrap();
    let (status, r) =
        s.post(&format!("/api/v1/credentials/{token_id}/revoke"), &admin, json!({"reason": "遗失"})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(verify(s, paper_token, &admin).await["error"], "revoked");
    let log: Value =
        reqwest::get(format!("{}/api/v1/revocations?since=0", s.base)).await.unwrap().json().await.unwrap();
    assert_eq!(log["items"][0]["token_id"], token_id);
    let next = log["next"].as_str().unwrap();
    let rest: Value = reqwest::get(format!("{}/api/v1/revocations?since={next}", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 0);

    // Rotation: codes from before stay valid; retiring the old key withdraws them.
    let (_, before) = s.post(&format!("/api/v1/persons/{pid}/health-code"), &admin, json!({})).await;
    let old_kid = s.state.keyring.issuer_kid();
    let new_kid = sentinel_server::health::KeyRing::rotate(&*s.state.store, Utc::now()).await.unwrap();
    s.state.refresh().await.unwrap();
    assert_eq!(s.state.keyring.issuer_kid(), new_kid);
    assert_eq!(
        verify(s, before["token"].as_str().unwrap(), &admin).await["valid"],
        true,
        "issued before the rotation"
    );
    let trust: Value =
        reqwest::get(format!("{}/api/v1/trust-list", s.base)).await.unwrap().json().await.unwrap();
    let kids: Vec<&str> =
        trust["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let anchor_bytes = b64.decode(trust["anchor"]["public_key"].as_str().unwrap()).unwrap();
    let anchor = sentinel_credential::PublicKey::from_bytes(Algorithm::Ed25519, &anchor_bytes).unwrap();
    let (list, version, _) =
        TrustList::open_signed(&b64.decode(trust["signed"].as_str().unwrap()).unwrap(), &anchor).unwrap();
    assert_eq!(
        (list.keys().len(), version),
        (3, trust["version"].as_u64().unwrap()),
        "the first key, the test key, the new key"
    );
    sentinel_server::health::KeyRing::retire(&*s.state.store, &old_kid, Utc::now()).await.unwrap();
    s.state.refresh().await.unwrap();
    assert_eq!(
        verify(s, before["token"].as_str().unwrap(), &admin).await["error"],
        "unknown_key",
        "signed by a retired key"
    );
}

/// Grid workers print paper codes for their community but cannot assign colours; others cannot print.
async fn health_permissions_follow_roles_and_scopes(s: &TestServer) {
    let (admin, pid, _) = setup(s).await;
    let (_, other) = s.post("/api/v1/persons", &admin, json!({"id_number": id_number("320508", "19700101", 5), "name": "李四", "region_code": "320508001002001"})).await;
    let grid = s.user(&admin, "grid1", "grid_worker", "320508001001").await;
    assert_eq!(
        s.post(&format!("/api/v1/persons/{pid}/paper-code"), &grid, json!({})).await.0,
        StatusCode::OK
    );
    let (status, e) = s.post(&format!("/api/v1/persons/{}/paper-code", other["id"]), &grid, json!({})).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
    let (status, e) = s
        .post(
            "/api/v1/health/code-assignments",
            &grid,
            json!({"person_id": pid, "colour": "red", "reason": "x"}),
        )
        .await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let staff = s.user(&admin, "staff1", "venue_staff", "320508").await;
    assert_eq!(
        s.post(&format!("/api/v1/persons/{pid}/health-code"), &staff, json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post("/api/v1/risk-areas", &grid, json!({"region_code": "310115", "name": "x", "level": "high"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // A command centre of another district can neither decide this person's appeal nor learn they exist.
    let red = json!({"person_id": pid, "colour": "red", "reason": "通报"});
    let (_, red) = s.post("/api/v1/health/code-assignments", &admin, red).await;
    let appeal_url = format!("/api/v1/health/code-assignments/{}/appeals", red["id"]);
    let (_, appeal) = s.post(&appeal_url, &admin, json!({"statement": "误判"})).await;
    let wuzhong = s.user(&admin, "wuzhong", "command_centre", "320506").await;
    let decision = json!({"upheld": true, "note": "x"});
    let (status, e) = s.post(&format!("/api/v1/appeals/{}/decision", appeal["id"]), &wuzhong, decision).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
    let known =
        s.state.store.get_person(sentinel_core::PersonId(pid)).await.unwrap().id_number.as_str().to_owned();
    let nobody = id_number("320506", "19880808", 777);
    let nat = |id: &str| json!({"id_number": id, "sampled_at": "2024-04-28 08:00:00", "reported_at": "2024-04-28 12:00:00", "result": "negative", "kind": "pcr"});
    let (status, out_of_scope) = s.post("/api/v1/health/nat-results", &wuzhong, nat(&known)).await;
    let (_, unknown) = s.post("/api/v1/health/nat-results", &wuzhong, nat(&nobody)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(out_of_scope["detail"], unknown["detail"], "out of scope reads exactly like unknown");
    let auditor = s.user(&admin, "audit2", "auditor", "320508").await;
    assert_eq!(
        s.get("/api/v1/audit", &auditor).await.0,
        StatusCode::FORBIDDEN,
        "deployment-wide auditors only"
    );
}

/// A CSV of NAT results: good rows stored, bad rows reported by line, re-import changes nothing,
/// GBK files and Chinese headers work, and so does XLSX.
async fn imports_report_rows_and_are_idempotent(s: &TestServer) {
    let (admin, pid, id) = setup(s).await;
    // Local times, as operators' spreadsheets hold them.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let local = move |t: chrono::DateTime<Utc>| t.with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string();
    let sampled = |h: i64| local(Utc::now() - Duration::hours(h));
    let future = local(Utc::now() + Duration::days(2));
    let unknown = id_number("320508", "19900101", 99);
    let csv = format!(
        "id_number,sampled_at,reported_at,result,kind,lab,source_id\n\
         {id},{},{},negative,pcr,苏州疾控,s1\n\
         {id},{},{},negative,antigen,,\n\
         110105194912310021,{},{},negative,pcr,,\n\
         {unknown},{},{},negative,pcr,,\n\
         {id},{future},{future},negative,pcr,,\n\
         {id},2024-02-30 08:00:00,2024-03-01 08:00:00,negative,pcr,,\n\
         {id},{},{},阴性,核酸,,s3\n",
        sampled(50),
        sampled(40),
        sampled(30),
        sampled(26),
        sampled(30),
        sampled(26),
        sampled(30),
        sampled(26),
        sampled(20),
        sampled(10),
    );
    let send = |body: Vec<u8>, ct: &'static str| {
        s.http
            .post(format!("{}/api/v1/imports/nat-results", s.base))
            .bearer_auth(&admin)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    // Read first, so the cache holds a status without these results and the import must invalidate it.
    let (_, before) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert!(before["last_nat"].is_null(), "{before}");
    let report: Value = send(csv.clone().into_bytes(), "text/csv").await.unwrap().json().await.unwrap();
    assert_eq!((report["accepted"].as_u64(), report["inserted"].as_u64()), (Some(3), Some(3)), "{report}");
    let rows: Vec<u64> =
        report["rejected"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [4, 5, 6, 7]);
    assert!(report["rejected"][0]["error"].as_str().unwrap().contains("校验位"));
    assert!(report["rejected"][1]["error"].as_str().unwrap().contains("未登记"));
    let again: Value = send(csv.into_bytes(), "text/csv").await.unwrap().json().await.unwrap();
    assert_eq!((again["inserted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)));
    let (_, health) = s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await;
    assert_eq!(health["last_nat"]["age_hours"], 20, "the cache saw the import");

    let gbk_text = format!(
        "身份证号,采样时间,报告时间,检测结果,检测类型\n{id},{},{},阴性,抗原\n",
        sampled(8),
        sampled(7)
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&gbk_text);
    let report: Value = send(gbk.into_owned(), "text/csv").await.unwrap().json().await.unwrap();
    assert_eq!(
        (report["inserted"].as_u64(), report["encoding"].as_str()),
        (Some(1), Some("gbk")),
        "{report}"
    );

    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["id_number", "sampled_at", "reported_at", "result", "kind"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in [id.clone(), sampled(6), sampled(5), "negative".into(), "pcr".into()].iter().enumerate() {
        sheet.write_string(1, c as u16, v).unwrap();
    }
    let xlsx = book.save_to_buffer().unwrap();
    let report: Value = send(xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["inserted"].as_u64(), report["encoding"].as_str()),
        (Some(1), Some("xlsx")),
        "{report}"
    );

    let res = send(b"name,phone\nx,y\n".to_vec(), "text/csv").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("sampled_at"), "{problem}");
}

on_both_backends!(
    codes_follow_the_registry,
    records_change_the_live_status,
    refusals_are_typed,
    health_permissions_follow_roles_and_scopes,
    imports_report_rows_and_are_idempotent,
);

#[tokio::test]
async fn qr_codes_render() {
    let s = TestServer::start(support::Backend::Sqlite, "").await.unwrap();
    let admin = s.admin().await;
    let res = s
        .http
        .post(format!("{}/api/v1/qr", s.base))
        .bearer_auth(&admin)
        .json(&json!({"text": "SN1:ABC", "format": "png"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let (status, e) = s.post("/api/v1/qr", &admin, json!({"text": "x", "format": "gif"})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("format")));
    s.stop().await;
}

/// A change written by another node (or a command-line import) reaches this node's cache at the next refresh.
#[tokio::test]
async fn other_writers_invalidate_the_cache() {
    let s = TestServer::start(support::Backend::Sqlite, "").await.unwrap();
    let (admin, pid, _) = setup(&s).await;
    assert_eq!(s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await.1["colour"], "green");
    let assignment = sentinel_store::NewAssignment {
        person_id: sentinel_core::PersonId(pid),
        colour: Colour::Yellow,
        reason: "另一节点写入 / written elsewhere".into(),
        source: sentinel_core::health::AssignmentSource::Manual,
        set_by: "other-node".into(),
        valid_from: Utc::now(),
        valid_until: None,
    };
    s.state.store.add_assignment(&assignment, Utc::now()).await.unwrap();
    assert_eq!(
        s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await.1["colour"],
        "green",
        "cached until the refresh"
    );
    s.state.refresh().await.unwrap();
    assert_eq!(s.get(&format!("/api/v1/persons/{pid}/health"), &admin).await.1["colour"], "yellow");
    s.stop().await;
}
