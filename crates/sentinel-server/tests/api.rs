//! The API against a real server on port 0, on SQLite and PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestServer, id_number};

fn venue(name: &str, category: &str, region: &str) -> Value {
    json!({"name": name, "category": category, "region_code": region, "address": format!("{name}路1号"), "lat": 31.31, "lon": 120.62})
}

fn person(id: &str, name: &str, region: &str) -> Value {
    json!({"id_number": id, "name": name, "phone": "13812345678", "address": "苏州市姑苏区平江路100号", "region_code": region})
}

fn ids(list: &Value) -> Vec<i64> {
    list["items"].as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

/// The issue's own walk-through: log in, create a venue and a person, find the person, read masked,
/// unmask with a purpose, see the read in the audit log; a bad ID number is a 422 naming the field.
async fn registry_walkthrough(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let (status, v) =
        s.post("/api/v1/venues", &admin, venue("平江菜市场", "wet_market", "320508001001")).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(v["id"].as_i64().is_some());
    assert_eq!(v["category_label_zh"], "农集贸市场");

    let id = id_number("320508", "19800307", 123);
    let (status, p) = s.post("/api/v1/persons", &admin, person(&id, "欧阳娜娜", "320508001001001")).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let pid = p["id"].as_i64().unwrap();
    assert_eq!(p["masked"], true);

    let (status, found) = s.get(&format!("/api/v1/persons?id_number={id}"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&found), [pid]);
    let masked = &found["items"][0];
    assert_eq!(masked["id_number"], format!("{}***********{}", &id[..3], &id[14..]));
    assert_eq!(masked["name"], "欧阳**");
    assert_eq!(masked["phone"], "138****5678");
    let (_, by_phone) = s.get("/api/v1/persons?phone=13812345678", &admin).await;
    assert_eq!(ids(&by_phone), [pid]);

    let (status, plain) = s.get(&format!("/api/v1/persons/{pid}"), &admin).await;
    assert_eq!(
        (status, plain["masked"].clone(), plain["name"].clone()),
        (StatusCode::OK, json!(true), json!("欧阳**"))
    );
    let (status, plain) =
        s.get(&format!("/api/v1/persons/{pid}?purpose=%E6%A0%B8%E5%AE%9E%E8%BA%AB%E4%BB%BD"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (plain["id_number"].as_str(), plain["name"].as_str(), plain["masked"].as_bool()),
        (Some(id.as_str()), Some("欧阳娜娜"), Some(false))
    );

    let (status, audit) = s.get("/api/v1/audit", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let unmask =
        audit["items"].as_array().unwrap().iter().find(|a| a["action"] == "person.unmask").expect("audited");
    assert_eq!(unmask["actor"], "admin");
    assert_eq!(unmask["subject"], format!("person:{pid}"));
    assert_eq!(unmask["purpose"], "核实身份");
    assert!(unmask["at"].as_str().unwrap().ends_with("+08:00"));

    let mut bad = id.clone().into_bytes();
    bad[17] = if bad[17] == b'1' { b'2' } else { b'1' };
    let bad = String::from_utf8(bad).unwrap();
    let res = s
        .request(Method::POST, "/api/v1/persons", Some(&admin), Some(person(&bad, "李四", "320508001001")))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        (problem["code"].as_str(), problem["field"].as_str()),
        (Some("invalid_field"), Some("id_number"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("校验位"));

    let (status, dup) = s.post("/api/v1/persons", &admin, person(&id, "欧阳娜娜", "320508001001")).await;
    assert_eq!((status, dup["field"].as_str()), (StatusCode::CONFLICT, Some("id_number")));
}

/// A grid worker of one community cannot read another's persons, nor do what its role does not allow.
async fn scopes_bound_every_read(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let (_, a) = s
        .post(
            "/api/v1/persons",
            &admin,
            person(&id_number("320508", "19700101", 11), "张三", "320508001001001"),
        )
        .await;
    let (_, b) = s
        .post(
            "/api/v1/persons",
            &admin,
            person(&id_number("320508", "19700102", 12), "李四", "320508001002001"),
        )
        .await;
    let user = json!({"username": "grid1", "password": "grid-password", "role": "grid_worker", "scope": "320508001001"});
    let (status, u) = s.post("/api/v1/users", &admin, user).await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!((u["role"].as_str(), u["scope"].as_str()), (Some("grid_worker"), Some("320508001001")));
    let grid = s.login("grid1", "grid-password").await;

    let (status, _) = s.get(&format!("/api/v1/persons/{}", a["id"]), &grid).await;
    assert_eq!(status, StatusCode::OK);
    let (status, denied) = s.get(&format!("/api/v1/persons/{}?purpose=入户核查", b["id"]), &grid).await;
    assert_eq!((status, denied["code"].as_str()), (StatusCode::FORBIDDEN, Some("out_of_scope")));
    let (status, denied) = s.get(&format!("/api/v1/persons/{}", b["id"]), &grid).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    let (_, listed) = s.get("/api/v1/persons", &grid).await;
    assert_eq!(ids(&listed), [a["id"].as_i64().unwrap()]);
    let (_, searched) =
        s.get(&format!("/api/v1/persons?id_number={}", id_number("320508", "19700102", 12)), &grid).await;
    assert_eq!(ids(&searched), Vec::<i64>::new(), "search does not reveal persons outside the scope");
    let (status, _) = s
        .post(
            "/api/v1/persons",
            &grid,
            person(&id_number("320508", "19700103", 13), "王五", "320508001002001"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, e) = s.post("/api/v1/venues", &grid, venue("x", "restaurant", "320508001001")).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (status, _) = s.get("/api/v1/audit", &grid).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .post(
            "/api/v1/users",
            &grid,
            json!({"username": "x12", "password": "12345678", "role": "admin", "scope": "*"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A supervising department sees the venues of its category only.
    s.post("/api/v1/venues", &admin, venue("平江菜市场", "wet_market", "320508001001")).await;
    s.post("/api/v1/venues", &admin, venue("平江超市", "supermarket", "320508001001")).await;
    let sup = json!({"username": "market", "password": "market-password", "role": "supervisor", "scope": "category:wet_market"});
    assert_eq!(s.post("/api/v1/users", &admin, sup).await.0, StatusCode::CREATED);
    let market = s.login("market", "market-password").await;
    let (_, venues) = s.get("/api/v1/venues", &market).await;
    let categories: Vec<&str> =
        venues["items"].as_array().unwrap().iter().map(|v| v["category"].as_str().unwrap()).collect();
    assert_eq!(categories, ["wet_market"]);
    let (status, _) = s.get("/api/v1/persons", &market).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, e) = s.post("/api/v1/users", &admin, json!({"username": "bad1", "password": "12345678", "role": "auditor", "scope": "category:casino"})).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("scope")));
    let (status, e) = s
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "bad2", "password": "12345678", "role": "king", "scope": "*"}),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("role")));
}

async fn venues_crud_filters_and_pages(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let mut created = Vec::new();
    for (name, cat, region) in [
        ("平江菜市场", "wet_market", "320508001001"),
        ("观前便利店", "convenience_store", "320508001002001"),
        ("长桥菜市场", "wet_market", "320506"),
    ] {
        let (status, v) = s.post("/api/v1/venues", &admin, venue(name, cat, region)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        created.push(v["id"].as_i64().unwrap());
    }
    let (_, page1) = s.get("/api/v1/venues?limit=2", &admin).await;
    assert_eq!(ids(&page1), created[..2]);
    let next = page1["next"].as_str().unwrap();
    let (_, page2) = s.get(&format!("/api/v1/venues?limit=2&cursor={next}"), &admin).await;
    assert_eq!((ids(&page2), page2["next"].clone()), (created[2..].to_vec(), Value::Null));
    let (_, markets) = s.get("/api/v1/venues?category=wet_market", &admin).await;
    assert_eq!(ids(&markets), [created[0], created[2]]);
    let (_, gusu) = s.get("/api/v1/venues?region=320508", &admin).await;
    assert_eq!(ids(&gusu), created[..2]);
    let (_, text) = s.get("/api/v1/venues?q=%E4%BE%BF%E5%88%A9", &admin).await;
    assert_eq!(ids(&text), [created[1]]);

    let (status, updated) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/venues/{}", created[0]),
            Some(&admin),
            Some(json!({"name": "平江农贸市场", "capacity": 500})),
        )
        .await;
    assert_eq!(
        (status, updated["name"].as_str(), updated["capacity"].as_i64()),
        (StatusCode::OK, Some("平江农贸市场"), Some(500))
    );
    let (status, _) =
        s.call(Method::DELETE, &format!("/api/v1/venues/{}", created[0]), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = s.get(&format!("/api/v1/venues/{}", created[0]), &admin).await;
    assert_eq!((status, gone["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Bad input names the field and changes nothing.
    for (body, field) in [
        (json!({"category": "wet_market", "region_code": "320508", "address": "x"}), "name"),
        (venue("x", "casino", "320508"), "category"),
        (venue("x", "restaurant", "3205"), "region_code"),
        (venue("x", "restaurant", "320508009"), "region_code"),
        (
            json!({"name": "x", "category": "restaurant", "region_code": "320508", "address": "a", "lat": 100.0}),
            "lat",
        ),
        (
            json!({"name": "x", "category": "restaurant", "region_code": "320508", "address": "a", "lat": "north"}),
            "lat",
        ),
    ] {
        let (status, p) = s.post("/api/v1/venues", &admin, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"].as_str(), Some(field), "{p}");
    }
    let res = s
        .http
        .post(format!("{}/api/v1/venues", s.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let huge = json!({"name": "x".repeat(3 << 20), "category": "restaurant", "region_code": "320508", "address": "a"});
    let (status, e) = s.post("/api/v1/venues", &admin, huge).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    let (_, all) = s.get("/api/v1/venues", &admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (status, e) = s.get("/api/v1/venues?limit=0", &admin).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));
    let (status, e) = s.get("/api/v1/venues?cursor=abc", &admin).await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")));
}

async fn devices_register_to_venues(s: &TestServer) {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let (_, v) = s.post("/api/v1/venues", &admin, venue("平江菜市场", "wet_market", "320508001001")).await;
    let device =
        json!({"venue_id": v["id"], "kind": "sentinel", "serial": "SN-0001", "name": "东门数字哨兵"});
    let (status, d) = s.post("/api/v1/devices", &admin, device.clone()).await;
    assert_eq!((status, d["kind_label_zh"].as_str()), (StatusCode::CREATED, Some("数字哨兵")));
    let (status, e) = s.post("/api/v1/devices", &admin, device).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (status, e) = s
        .post(
            "/api/v1/devices",
            &admin,
            json!({"venue_id": 9999, "kind": "sentinel", "serial": "SN-2", "name": "x"}),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("venue_id")));
    let (status, e) = s
        .post(
            "/api/v1/devices",
            &admin,
            json!({"venue_id": v["id"], "kind": "toaster", "serial": "SN-3", "name": "x"}),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")));
    let (_, list) = s.get(&format!("/api/v1/devices?venue_id={}", v["id"]), &admin).await;
    assert_eq!(ids(&list), [d["id"].as_i64().unwrap()]);
}

/// Cookie sessions need the CSRF token for writes; API tokens work as bearer tokens; logout ends a session.
async fn sessions_cookies_and_api_tokens(s: &TestServer) {
    let res = s
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    let res = s
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": support::ADMIN_PASSWORD})),
        )
        .await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let login: Value = res.json().await.unwrap();
    let csrf = login["csrf_token"].as_str().unwrap();

    // The client's cookie jar now carries the session.
    let (status, me) = s.call(Method::GET, "/api/v1/auth/me", None, None).await;
    assert_eq!((status, me["username"].as_str()), (StatusCode::OK, Some("admin")));
    let region = json!({"code": "320000", "name_zh": "江苏省"});
    let (status, e) = s.call(Method::POST, "/api/v1/regions", None, Some(region.clone())).await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf_token_invalid")));
    let res = s
        .http
        .post(format!("{}/api/v1/regions", s.base))
        .header("x-csrf-token", csrf)
        .json(&region)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let token = login["token"].as_str().unwrap();
    let (status, u) = s.post("/api/v1/users", token, json!({"username": "feed", "password": "feed-password", "role": "command_centre", "scope": "320000"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, t) = s
        .post(
            &format!("/api/v1/users/{}/api-tokens", u["id"]),
            token,
            json!({"name": "苏康码数据接口", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let api_token = t["token"].as_str().unwrap();
    let plain = reqwest::Client::new();
    let res = plain.get(format!("{}/api/v1/regions", s.base)).bearer_auth(api_token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let (status, _) = s.call(Method::POST, "/api/v1/auth/logout", Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = plain.get(format!("{}/api/v1/auth/me", s.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = plain.get(format!("{}/api/v1/venues", s.base)).send().await.unwrap();
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "unauthenticated");
}

on_both_backends!(
    registry_walkthrough,
    scopes_bound_every_read,
    venues_crud_filters_and_pages,
    devices_register_to_venues,
    sessions_cookies_and_api_tokens,
);

#[tokio::test]
async fn operations_endpoints_answer() {
    let s = TestServer::start(support::Backend::Sqlite, "").await.unwrap();
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = s.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body["backend"].as_str()), (StatusCode::OK, Some("sqlite")));
    let (status, spec) = s.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/venues",
        "/api/v1/persons/{id}",
        "/api/v1/auth/login",
        "/api/v1/audit",
        "/api/v1/venue-categories",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let docs = s.http.get(format!("{}/api/docs/", s.base)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    let metrics = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("sentinel_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"),
        "{metrics}"
    );
    let res = s.http.get(format!("{}/nowhere", s.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().contains_key("x-request-id"));
    s.stop().await;
}

/// Snapshots of JSON a client depends on.
#[tokio::test]
async fn snapshots_of_stable_responses() {
    let s = TestServer::start(support::Backend::Sqlite, "").await.unwrap();
    let admin = s.admin().await;
    let (_, categories) = s.get("/api/v1/venue-categories", &admin).await;
    insta::assert_json_snapshot!("venue_categories", categories);
    s.seed_regions(&admin).await;
    let (_, problem) =
        s.post("/api/v1/persons", &admin, person("11010519491231002Y", "张三", "320508001001")).await;
    insta::assert_json_snapshot!("invalid_id_number_problem", problem);
    let (_, regions) = s.get("/api/v1/regions?parent=320508001", &admin).await;
    insta::assert_json_snapshot!("regions_of_a_street", regions);
    s.stop().await;
}
