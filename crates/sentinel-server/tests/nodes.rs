//! Two server nodes on one PostgreSQL database: an alert raised by a scan on one node reaches the live
//! stream of a grid worker connected to the other, once.

mod support;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use support::{Backend, TestServer, id_number};

/// Reads the stream until `needle` has arrived `times` times, each chunk within `secs` seconds.
async fn read_until(stream: &mut reqwest::Response, needle: &str, times: usize, secs: u64) -> String {
    let mut received = String::new();
    while received.matches(needle).count() < times {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(secs), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle} within {secs} s; got {received}"));
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    received
}

/// Waits until `n` sessions LISTEN for alerts on the database (both nodes' followers are up).
async fn wait_for_listeners(url: &str, n: i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    for _ in 0..100 {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
                &[&format!("LISTEN {}", sentinel_store::postgres::notify::ALERT_CHANNEL)],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} nodes listening for alerts within 5 s");
}

#[tokio::test]
async fn an_alert_on_one_node_reaches_the_other_nodes_stream() {
    let Some(a) = TestServer::start(Backend::Postgres, "nodes::alerts_across_nodes").await else { return };
    let b = a.second_node().await;
    let admin = a.admin().await;
    a.seed_regions(&admin).await;
    let venue = json!({"name": "观前街商场", "category": "commercial_complex", "region_code": "320508001001001", "address": "观前街1号"});
    let (_, v) = a.post("/api/v1/venues", &admin, venue).await;
    let (status, d) = a
        .post(
            &format!("/api/v1/venues/{}/devices", v["id"]),
            &admin,
            json!({"name": "东门", "kind": "sentinel"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let body = json!({"id_number": id_number("320508", "19800101", 41), "name": "陈静", "region_code": "320508001001001"});
    let (_, p) = a.post("/api/v1/persons", &admin, body).await;
    let sampled = (Utc::now() - Duration::hours(20)).to_rfc3339();
    let nat = json!({"person_id": p["id"], "sampled_at": sampled, "reported_at": sampled, "result": "negative", "kind": "pcr"});
    assert_eq!(a.post("/api/v1/health/nat-results", &admin, nat).await.0, StatusCode::CREATED);

    // The community's grid worker watches node B.
    let body = json!({"username": "grid9", "password": "grid9-password", "role": "grid_worker", "scope": "320508001001001"});
    assert_eq!(a.post("/api/v1/users", &admin, body).await.0, StatusCode::CREATED);
    let grid = b.login("grid9", "grid9-password").await;
    let mut on_b =
        b.http.get(format!("{}/api/v1/alerts/stream", b.base)).bearer_auth(&grid).send().await.unwrap();
    assert_eq!(on_b.status(), StatusCode::OK);
    let mut on_a =
        a.http.get(format!("{}/api/v1/alerts/stream", a.base)).bearer_auth(&grid).send().await.unwrap();
    wait_for_listeners(&a.config.database_url(), 2).await;

    // A fever at node A's gate.
    let (_, code) = a.post(&format!("/api/v1/persons/{}/health-code", p["id"]), &admin, json!({})).await;
    let scan =
        json!({"idempotency_key": "n1", "health_code": code["token"], "temperature_c": 38.6, "mask": true});
    let (status, answer) = a.post("/api/v1/device/scans", d["token"].as_str().unwrap(), scan).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("deny")), "{answer}");

    let heard = read_until(&mut on_b, "\"fever\"", 1, 5).await;
    assert!(heard.contains("观前街商场"), "{heard}");
    // Node A heard it from its own commit and from the announcement, and streamed it once.
    let own = read_until(&mut on_a, "\"fever\"", 1, 5).await;
    let more = tokio::time::timeout(std::time::Duration::from_millis(800), on_a.chunk()).await;
    let extra = match more {
        Ok(Ok(Some(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    assert_eq!((own + &extra).matches("\"fever\"").count(), 1, "streamed once on node A");

    drop((on_a, on_b));
    b.stop().await;
    a.stop().await;
}
