//! What a person clicks, in headless Chromium driven through Debian's chromedriver: a resident signs in
//! and their code page shows a QR that decodes to a verifiable token; a poster's URL opens the result
//! page with the venue's name; a dependant added on the family page is checked in with the guardian (two
//! visits); staff register a person by hand. Skipped with a reason when Chromium is not installed,
//! unless SENTINEL_REQUIRE_BROWSER is set (CI), where a skip is a failure. With SENTINEL_SCREENSHOTS=DIR
//! the code page and the result page are saved there (docs/screenshots in the repository).

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, TestServer, id_number};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser_or_skip() -> Option<(String, String)> {
    let driver = std::env::var("SENTINEL_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    let chromium = std::env::var("SENTINEL_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    if std::path::Path::new(&driver).exists() && std::path::Path::new(&chromium).exists() {
        return Some((driver, chromium));
    }
    let reason =
        format!("browser tests need {chromium} and {driver} (apt-get install chromium chromium-driver)");
    if std::env::var_os("SENTINEL_REQUIRE_BROWSER").is_some() {
        panic!("SENTINEL_REQUIRE_BROWSER is set: {reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

async fn start_driver(path: &str) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Owned by the guard at once, so it is killed and waited for whatever happens next.
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok_and(|r| r.status().is_success()) {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

/// A phone-sized headless Chromium.
async fn open_browser(driver: &Driver, chromium: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--window-size=430,1100", "--lang=zh-CN", "--disable-dev-shm-usage"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

async fn fill(b: &Client, name: &str, value: &str) {
    element(b, &format!("[name=\"{name}\"]")).await.send_keys(value).await.unwrap();
}

/// The element, waiting for it: a click that submits a form returns before the next page is there.
async fn element(b: &Client, css: &str) -> fantoccini::elements::Element {
    match b.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            let url = b.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = b.source().await.unwrap_or_default();
            panic!("{css} not found at {url}: {e}\n{}", &source[..source.len().min(3000)])
        }
    }
}

async fn click(b: &Client, css: &str) {
    element(b, css).await.click().await.unwrap();
}

async fn text(b: &Client, css: &str) -> String {
    element(b, css).await.text().await.unwrap()
}

fn save_screenshot(png: &[u8], name: &str) {
    if let Some(dir) = std::env::var_os("SENTINEL_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

fn decode_qr(png_bytes: &[u8]) -> Vec<String> {
    let mut reader = png::Decoder::new(png_bytes).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (frame.width as usize, frame.height as usize);
    let channels = frame.color_type.samples();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[(y * w + x) * channels]);
    image.detect_grids().into_iter().filter_map(|g| g.decode().ok().map(|(_, text)| text)).collect()
}

struct City {
    admin: String,
    venues: Vec<(i64, &'static str)>,
    son: i64,
    son_id: String,
    mother: i64,
    mother_id: String,
}

async fn city(s: &TestServer) -> City {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let mut venues = Vec::new();
    for (name, category) in [("平江鲜果坊", "fruit_shop"), ("大儒巷面馆", "restaurant")] {
        let body = json!({"name": name, "category": category, "region_code": "320508001001001", "address": "平江路12号"});
        let (status, v) = s.post("/api/v1/venues", &admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        venues.push((v["id"].as_i64().unwrap(), name));
    }
    let son_id = id_number("320508", "19850101", 31);
    let mother_id = id_number("320508", "19480305", 32);
    let body = json!({"id_number": son_id, "name": "王强", "phone": "13800000031", "region_code": "320508001001001"});
    let (_, son) = s.post("/api/v1/persons", &admin, body).await;
    let body = json!({"id_number": mother_id, "name": "刘秀英", "region_code": "320508001001001"});
    let (_, mother) = s.post("/api/v1/persons", &admin, body).await;
    // Both tested this morning, so the default policy admits them and the pages show green.
    for person in [&son, &mother] {
        let sampled = (chrono::Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
        let body = json!({"person_id": person["id"], "sampled_at": sampled, "reported_at": sampled, "result": "negative", "kind": "pcr"});
        let (status, nat) = s.post("/api/v1/health/nat-results", &admin, body).await;
        assert!(status.is_success(), "{nat}");
    }
    City {
        admin,
        venues,
        son: son["id"].as_i64().unwrap(),
        son_id,
        mother: mother["id"].as_i64().unwrap(),
        mother_id,
    }
}

async fn visits_of(s: &TestServer, admin: &str, person: i64) -> Vec<Value> {
    let (status, list) = s.get(&format!("/api/v1/visits?person_id={person}"), admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_resident_and_a_door_in_a_real_browser() {
    let Some((driver_path, chromium)) = browser_or_skip() else { return };
    let s = TestServer::start_with(Backend::Sqlite, "", |c| c.demo_banner = true).await.unwrap();
    let c = city(&s).await;
    let driver = start_driver(&driver_path).await;
    let b = open_browser(&driver, &chromium).await;

    // A poster's URL before signing in: sign in (the demo banner shows the one-time code), come back.
    let (_, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.venues[0].0), &c.admin).await;
    let poster_url = code["url"].as_str().unwrap().to_owned();
    b.goto(&poster_url).await.unwrap();
    element(&b, "#send-code").await;
    assert!(b.current_url().await.unwrap().path().ends_with("/r/login"));
    fill(&b, "id_number", &c.son_id).await;
    fill(&b, "phone", "13800000031").await;
    click(&b, "#send-code").await;
    let demo = text(&b, "#demo-code strong").await;
    fill(&b, "code", &demo).await;
    click(&b, "#sign-in").await;

    // The result page: the venue's name, a running clock, admitted (not vaccinated: with a reminder).
    let venue = text(&b, ".result .venue").await;
    assert_eq!(venue, c.venues[0].1);
    let outcome = element(&b, ".result").await.attr("data-outcome").await.unwrap();
    assert!(matches!(outcome.as_deref(), Some("pass" | "remind")), "{outcome:?}");
    let first = text(&b, ".result .clock").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(text(&b, ".result .clock").await, first, "the clock runs");
    save_screenshot(&b.screenshot().await.unwrap(), "result-page.png");
    assert_eq!(visits_of(&s, &c.admin, c.son).await.len(), 1);

    // My code: the QR on the screen decodes to a token the server verifies as this person's.
    b.goto(&format!("{}/r/code", s.base)).await.unwrap();
    assert_eq!(text(&b, "#colour").await, "绿码");
    let qr = element(&b, "#health-code .qr").await.screenshot().await.unwrap();
    let texts = decode_qr(&qr);
    assert_eq!(texts.len(), 1, "one QR on the page");
    let (status, verified) = s.post("/api/v1/credentials/verify", &c.admin, json!({"token": texts[0]})).await;
    assert_eq!((status, verified["valid"].as_bool()), (StatusCode::OK, Some(true)), "{verified}");
    assert_eq!(verified["claims"]["person_id"].as_i64(), Some(c.son));
    save_screenshot(&b.screenshot().await.unwrap(), "resident-code.png");

    // Family: a wrong ID number is refused on a clear page; the right one is added.
    b.goto(&format!("{}/r/family", s.base)).await.unwrap();
    fill(&b, "name", "刘秀英").await;
    fill(&b, "id_number", &id_number("320508", "19480305", 99)).await;
    fill(&b, "relation", "母亲").await;
    click(&b, "#add-dependant button").await;
    assert!(text(&b, "main.error h1").await.contains("身份证号码与姓名不一致"));
    b.goto(&format!("{}/r/family", s.base)).await.unwrap();
    fill(&b, "name", "刘秀英").await;
    fill(&b, "id_number", &c.mother_id).await;
    fill(&b, "relation", "母亲").await;
    click(&b, "#add-dependant button").await;
    assert!(text(&b, "#dependants").await.contains("母亲"));

    // Proxy check-in at the second venue: both ticked, two visits, hers by proxy.
    let (_, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.venues[1].0), &c.admin).await;
    b.goto(code["url"].as_str().unwrap()).await.unwrap();
    click(&b, &format!("[name=\"p_{}\"]", c.mother)).await;
    click(&b, "#check-in").await;
    element(&b, ".result").await;
    assert_eq!(b.find_all(Locator::Css(".result")).await.unwrap().len(), 2);
    let hers = visits_of(&s, &c.admin, c.mother).await;
    assert_eq!(hers.len(), 1);
    assert_eq!(
        (hers[0]["channel"].as_str(), hers[0]["venue_id"].as_i64()),
        (Some("proxy"), Some(c.venues[1].0))
    );
    assert_eq!(visits_of(&s, &c.admin, c.son).await.len(), 2);

    // The door: staff sign in and register the mother by hand.
    let body =
        json!({"username": "door1", "password": "door1-password", "role": "venue_staff", "scope": "320508"});
    let (status, _) = s.post("/api/v1/users", &c.admin, body).await;
    assert_eq!(status, StatusCode::CREATED);
    b.delete_all_cookies().await.unwrap();
    b.goto(&format!("{}/s/manual", s.base)).await.unwrap();
    fill(&b, "username", "door1").await;
    fill(&b, "password", "door1-password").await;
    click(&b, "#staff-sign-in").await;
    element(&b, "#manual").await;
    assert!(b.current_url().await.unwrap().path().ends_with("/s/manual"));
    fill(&b, "id_number", &c.mother_id).await;
    fill(&b, "name", "刘秀英").await;
    fill(&b, "temperature_c", "36.5").await;
    click(&b, "#register").await;
    assert!(text(&b, ".result .verdict").await.starts_with("通行"));
    let hers = visits_of(&s, &c.admin, c.mother).await;
    assert_eq!(hers.len(), 2);
    assert!(hers.iter().any(|v| v["channel"] == "manual" && v["registrar"] == "door1"));

    b.close().await.unwrap();
    drop(driver);
    s.stop().await;
}
