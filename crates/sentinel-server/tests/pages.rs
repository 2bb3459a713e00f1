//! The residents' and staff pages over real HTTP, as a phone or a desk browser would use them: place
//! codes and posters, sign-in with a one-time code through the SMS gateway, check-in from the poster's
//! URL, family members and proxy check-in, check-out, manual and paper-code registration, and the pages
//! every bad input gets.

mod support;

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Backend, TestServer, id_number};

/// An SMS gateway that keeps what it is sent.
async fn sms_gateway() -> (String, Arc<Mutex<Vec<Value>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let keep = sent.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, sent)
}

/// A browser-like client: its own cookies, redirects not followed (the tests look at them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn page(client: &reqwest::Client, url: &str) -> (StatusCode, String, Option<String>) {
    let res = client.get(url).send().await.unwrap();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (res.status(), res.text().await.unwrap(), location)
}

async fn submit(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let res = client.post(url).form(form).send().await.unwrap();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (res.status(), res.text().await.unwrap(), location)
}

/// The value of a hidden form field.
fn field(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn error_code(html: &str) -> &str {
    let at = html.find("data-code=\"").expect("an error page");
    let rest = &html[at + 11..];
    &rest[..rest.find('"').unwrap()]
}

struct City {
    admin: String,
    shop: i64,
    son: i64,
    son_id: String,
    mother: i64,
    mother_id: String,
}

async fn city(s: &TestServer) -> City {
    let admin = s.admin().await;
    s.seed_regions(&admin).await;
    let body = json!({"name": "平江鲜果坊", "category": "fruit_shop", "region_code": "320508001001001", "address": "平江路12号"});
    let (status, shop) = s.post("/api/v1/venues", &admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{shop}");
    let son_id = id_number("320508", "19850101", 21);
    let mother_id = id_number("320508", "19480305", 22);
    let body = json!({"id_number": son_id, "name": "王强", "phone": "13800000021", "region_code": "320508001001001"});
    let (_, son) = s.post("/api/v1/persons", &admin, body).await;
    let body = json!({"id_number": mother_id, "name": "刘秀英", "region_code": "320508001001001"});
    let (_, mother) = s.post("/api/v1/persons", &admin, body).await;
    City {
        shop: shop["id"].as_i64().unwrap(),
        son: son["id"].as_i64().unwrap(),
        son_id,
        mother: mother["id"].as_i64().unwrap(),
        mother_id,
        admin,
    }
}

/// Signs `client` in as the person with this ID number and phone, reading the code the gateway got.
async fn sign_in(
    s: &TestServer,
    client: &reqwest::Client,
    sent: &Mutex<Vec<Value>>,
    id: &str,
    phone: &str,
    next: &str,
) -> String {
    let (status, html, _) = submit(
        client,
        &format!("{}/r/login", s.base),
        &[("id_number", id), ("phone", phone), ("next", next)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("138****0021"), "the masked phone is shown");
    let text = sent.lock().unwrap().last().unwrap()["text"].as_str().unwrap().to_owned();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let (status, _, location) = submit(
        client,
        &format!("{}/r/verify", s.base),
        &[("id_number", id), ("code", &code), ("next", next)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    location.unwrap()
}

async fn visits_of(s: &TestServer, admin: &str, person: i64) -> Vec<Value> {
    let (status, list) = s.get(&format!("/api/v1/visits?person_id={person}"), admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn a_resident_checks_in_from_the_poster(s: &TestServer, sent: &Mutex<Vec<Value>>) {
    let c = city(s).await;
    let (status, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.shop), &c.admin).await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let (token, url) = (code["token"].as_str().unwrap(), code["url"].as_str().unwrap().to_owned());
    assert_eq!((code["version"].as_u64(), url.clone()), (Some(1), format!("{}/v/{token}", s.base)));

    // Not signed in: to the sign-in page and back to the check-in.
    let phone = browser();
    let path = format!("/v/{token}");
    let (status, _, location) = page(&phone, &url).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some(format!("/r/login?next={path}").as_str()))
    );
    assert_eq!(sign_in(s, &phone, sent, &c.son_id, "13800000021", &path).await, path);
    let message = sent.lock().unwrap().last().unwrap().clone();
    assert_eq!(message["phone"], "13800000021");

    // Sent here by another site (a link, a script): nothing is recorded until the person confirms.
    let res = phone.get(&url).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("id=\"choose\""));
    assert!(visits_of(s, &c.admin, c.son).await.is_empty());

    // A double tap on the first scan: two loads at once make one visit.
    let (first, second) = tokio::join!(page(&phone, &url), page(&phone, &url));
    assert_eq!((first.0, second.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(visits_of(s, &c.admin, c.son).await.len(), 1, "one visit for a double tap");

    // The result page staff look at; a second scan within the minute shows the same visit.
    let (status, html) = (first.0, first.1);
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("平江鲜果坊") && html.contains("王*") && html.contains("data-clock"), "{html}");
    assert!(html.contains("data-outcome=\"deny\""), "no NAT on record: the default policy denies");
    let (_, again, _) = page(&phone, &url).await;
    let visits = visits_of(s, &c.admin, c.son).await;
    assert_eq!(visits.len(), 1, "no duplicate visit within a minute");
    assert_eq!(visits[0]["channel"], "self_scan");
    assert!(again.contains(&format!("data-visit=\"{}\"", visits[0]["id"])));

    // Check-out from the result page.
    let csrf = field(&html, "csrf");
    let visit_field = format!("v_{}", visits[0]["id"]);
    let (status, out, _) =
        submit(&phone, &format!("{url}/checkout"), &[("csrf", &csrf), (&visit_field, "1")]).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(visits_of(s, &c.admin, c.son).await[0]["left_at"].is_string());
    let (status, _, _) =
        submit(&phone, &format!("{url}/checkout"), &[("csrf", "forged"), (&visit_field, "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form without the session's CSRF token");

    // My visits shows it.
    let (_, mine, _) = page(&phone, &format!("{}/r/visits", s.base)).await;
    assert!(mine.contains("平江鲜果坊"));

    // A lost poster is reissued: the old URL now says it is retired; the new one works.
    let (status, new) =
        s.post(&format!("/api/v1/venues/{}/place-code/reissue", c.shop), &c.admin, json!({})).await;
    assert_eq!((status, new["version"].as_u64()), (StatusCode::OK, Some(2)));
    let (status, html, _) = page(&phone, &url).await;
    assert_eq!((status, error_code(&html)), (StatusCode::GONE, "place_code_retired"));
    assert!(html.contains("该场所码已停用"));
    let (status, _, _) = page(&phone, new["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // A forged token, and an unknown venue signed by nobody we know.
    let mut forged = new["token"].as_str().unwrap().to_owned();
    let flip = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., flip);
    let (status, html, _) = page(&phone, &format!("{}/v/{forged}", s.base)).await;
    assert_eq!((status, error_code(&html)), (StatusCode::BAD_REQUEST, "place_code_invalid"));
    assert!(html.contains("场所码无效") && !html.contains("panicked"));
    let (status, html, _) = page(&phone, &format!("{}/v/not-a-token", s.base)).await;
    assert_eq!((status, error_code(&html)), (StatusCode::BAD_REQUEST, "place_code_invalid"));
    // Genuinely signed, but for a venue that does not exist (or was deleted).
    let ghost = s.state.keyring.sign_place(sentinel_credential::PlaceCode { venue_id: 999_999, version: 1 });
    let (status, html, _) = page(&phone, &format!("{}/v/{ghost}", s.base)).await;
    assert_eq!((status, error_code(&html)), (StatusCode::NOT_FOUND, "venue_not_found"));

    // The code page's refresh: a fresh token the server verifies.
    let res = phone.get(format!("{}/r/code.json", s.base)).send().await.unwrap();
    let fresh: Value = res.json().await.unwrap();
    let (_, verified) =
        s.post("/api/v1/credentials/verify", &c.admin, json!({"token": fresh["token"]})).await;
    assert_eq!(
        (verified["valid"].as_bool(), verified["claims"]["person_id"].as_i64()),
        (Some(true), Some(c.son))
    );
    assert!(fresh["svg"].as_str().unwrap().starts_with("<svg"));
    let res = browser().get(format!("{}/r/code.json", s.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn a_guardian_checks_in_a_dependant_in_one_step(s: &TestServer, sent: &Mutex<Vec<Value>>) {
    let c = city(s).await;
    let (_, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.shop), &c.admin).await;
    let url = code["url"].as_str().unwrap();
    let phone = browser();
    sign_in(s, &phone, sent, &c.son_id, "13800000021", "/r/family").await;
    let (_, html, _) = page(&phone, &format!("{}/r/family", s.base)).await;
    let csrf = field(&html, "csrf");

    // A wrong ID number, and the right number under another name: a clear page, nothing added.
    let family = format!("{}/r/family", s.base);
    let wrong = id_number("320508", "19480305", 99);
    for (name, number) in [("刘秀英", wrong.as_str()), ("刘秀兰", c.mother_id.as_str())] {
        let (status, html, _) = submit(
            &phone,
            &family,
            &[("csrf", &csrf), ("name", name), ("id_number", number), ("relation", "母亲")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        assert!(html.contains("身份证号码与姓名不一致"), "{html}");
    }
    let (status, html, _) = submit(
        &phone,
        &family,
        &[("csrf", &csrf), ("name", "刘秀英"), ("id_number", "12345"), ("relation", "母亲")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("身份证号码无效"));
    let (status, html, _) = submit(
        &phone,
        &family,
        &[("csrf", &csrf), ("name", "刘秀英"), ("id_number", &c.mother_id), ("relation", "母亲")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"dependants\"") && html.contains("母亲"));

    // Her code, shown by her son.
    let (status, html, _) = page(&phone, &format!("{}/r/code?person={}", s.base, c.mother)).await;
    assert_eq!(status, StatusCode::OK);
    let at = html.find("data-token=\"").unwrap() + 12;
    let token = &html[at..at + html[at..].find('"').unwrap()];
    let (status, verified) = s.post("/api/v1/credentials/verify", &c.admin, json!({"token": token})).await;
    assert_eq!((status, verified["valid"].as_bool()), (StatusCode::OK, Some(true)), "{verified}");
    assert_eq!(verified["claims"]["person_id"].as_i64(), Some(c.mother));

    // The poster now asks who is entering; both are ticked: two visits, hers by proxy.
    let (status, choose, _) = page(&phone, url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(choose.contains("id=\"choose\""), "{choose}");
    let (son_box, mother_box) = (format!("p_{}", c.son), format!("p_{}", c.mother));
    let csrf = field(&choose, "csrf");
    let (status, result, _) =
        submit(&phone, url, &[("csrf", &csrf), (&son_box, "on"), (&mother_box, "on")]).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result.matches("class=\"result").count(), 2);
    let mine = visits_of(s, &c.admin, c.son).await;
    let hers = visits_of(s, &c.admin, c.mother).await;
    assert_eq!((mine.len(), hers.len()), (1, 1));
    assert_eq!(
        (mine[0]["channel"].as_str(), hers[0]["channel"].as_str()),
        (Some("self_scan"), Some("proxy"))
    );
    assert_eq!(hers[0]["registrar"], format!("resident:{}", c.son));

    // Nobody else can be checked in or looked at through this account.
    let stranger = format!("p_{}", c.son + 1000);
    let (status, _, _) = submit(&phone, url, &[("csrf", &csrf), (&stranger, "on")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = page(&phone, &format!("{}/r/code?person={}", s.base, c.son + 1000)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn one_time_codes_are_rate_limited_and_checked(s: &TestServer, sent: &Mutex<Vec<Value>>) {
    let c = city(s).await;
    let phone = browser();
    let login = format!("{}/r/login", s.base);
    // Another site's form cannot sign anyone in.
    let res = phone
        .post(&login)
        .header("origin", "https://evil.example")
        .form(&[("id_number", c.son_id.as_str()), ("phone", "13800000021")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(sent.lock().unwrap().is_empty());
    // The phone must be the one on record.
    let (status, html, _) =
        submit(&phone, &login, &[("id_number", &c.son_id), ("phone", "13900000000")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("手机号码不一致"));
    let (status, _, _) = submit(&phone, &login, &[("id_number", &c.son_id), ("phone", "13800000021")]).await;
    assert_eq!(status, StatusCode::OK);
    // A wrong code (the real one with its last digit changed) is refused; the person's hourly limit of
    // codes, then a clear refusal.
    let text = sent.lock().unwrap().last().unwrap()["text"].as_str().unwrap().to_owned();
    let real: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let wrong = format!("{}{}", &real[..5], (real.as_bytes()[5] - b'0' + 1) % 10);
    let (status, html, _) =
        submit(&phone, &format!("{}/r/verify", s.base), &[("id_number", &c.son_id), ("code", &wrong)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("验证码错误"));
    let per_hour = sentinel_server::pages::resident::OTP_PER_HOUR as usize;
    for _ in 1..per_hour {
        let (status, _, _) =
            submit(&phone, &login, &[("id_number", &c.son_id), ("phone", "13800000021")]).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, html, _) =
        submit(&phone, &login, &[("id_number", &c.son_id), ("phone", "13800000021")]).await;
    assert_eq!((status, error_code(&html)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(sent.lock().unwrap().len(), per_hour, "nothing sent once limited");
    // One client guessing which phone goes with which ID number is stopped too. Forms counted so far from
    // this address: the wrong phone, the person's codes, and the refused one.
    let counted = 1 + per_hour + 1;
    let per_client = sentinel_server::pages::resident::CLIENT_CODE_REQUESTS as usize;
    let mut answers = Vec::new();
    for i in 0..per_client {
        let phone_guess = format!("1390000{i:04}");
        let (status, _, _) =
            submit(&phone, &login, &[("id_number", &c.mother_id), ("phone", &phone_guess)]).await;
        answers.push(status);
    }
    let first_refusal = answers.iter().position(|s| *s == StatusCode::TOO_MANY_REQUESTS).expect("limited");
    assert!(answers[..first_refusal].iter().all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY));
    assert!(answers[first_refusal..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(first_refusal + counted, per_client, "the earlier forms count too");
    // The English switch is remembered; it never sends the browser to another site.
    let (status, _, location) = page(&phone, &format!("{}/lang?to=en&back=/r/login", s.base)).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/r/login")));
    let (_, english, _) = page(&phone, &format!("{}/r/login", s.base)).await;
    assert!(english.contains("Resident sign-in") && english.contains("lang=\"en\""));
    for evil in ["//evil.example", "/%09/evil.example", "https://evil.example"] {
        let (_, _, location) = page(&phone, &format!("{}/lang?to=zh&back={evil}", s.base)).await;
        assert_eq!(location.as_deref(), Some("/r/"), "{evil}");
    }
    // Pages for signed-in residents send others to sign in.
    for path in ["/r/code", "/r/visits", "/r/family"] {
        let (status, _, location) = page(&browser(), &format!("{}{path}", s.base)).await;
        assert_eq!((status, location.unwrap()), (StatusCode::SEE_OTHER, format!("/r/login?next={path}")));
    }
}

async fn staff_register_by_hand_and_by_paper_code(s: &TestServer, _sent: &Mutex<Vec<Value>>) {
    let c = city(s).await;
    let body =
        json!({"username": "door1", "password": "door1-password", "role": "venue_staff", "scope": "320508"});
    let (status, _) = s.post("/api/v1/users", &c.admin, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let desk = browser();
    let (status, _, location) = page(&desk, &format!("{}/s/manual", s.base)).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/s/login?next=/s/manual")));
    let (status, html, _) =
        submit(&desk, &format!("{}/s/login", s.base), &[("username", "door1"), ("password", "wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("用户名或密码错误"));
    let (status, _, location) = submit(
        &desk,
        &format!("{}/s/login", s.base),
        &[("username", "door1"), ("password", "door1-password"), ("next", "/s/manual")],
    )
    .await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/s/manual")));

    let (_, form, _) = page(&desk, &format!("{}/s/manual", s.base)).await;
    assert!(form.contains("平江鲜果坊"));
    let csrf = field(&form, "csrf");
    let shop = c.shop.to_string();
    let manual = format!("{}/s/manual", s.base);
    // A name that does not go with the ID number, a fever reading out of range: clear pages.
    let (status, html, _) = submit(
        &desk,
        &manual,
        &[("csrf", &csrf), ("venue", &shop), ("id_number", &c.mother_id), ("name", "张三")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("身份证号码与姓名不一致"));
    let (status, html, _) = submit(
        &desk,
        &manual,
        &[
            ("csrf", &csrf),
            ("venue", &shop),
            ("id_number", &c.mother_id),
            ("name", "刘秀英"),
            ("temperature_c", "80"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("体温超出范围"));
    let (status, _, _) = submit(
        &desk,
        &manual,
        &[("csrf", "x"), ("venue", &shop), ("id_number", &c.mother_id), ("name", "刘秀英")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, html, _) = submit(
        &desk,
        &manual,
        &[
            ("csrf", &csrf),
            ("venue", &shop),
            ("id_number", &c.mother_id),
            ("name", "刘秀英"),
            ("phone", ""),
            ("temperature_c", "36.4"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("class=\"result") && html.contains("刘*"));
    let hers = visits_of(s, &c.admin, c.mother).await;
    assert_eq!(hers.len(), 1);
    assert_eq!((hers[0]["channel"].as_str(), hers[0]["registrar"].as_str()), (Some("manual"), Some("door1")));

    // Her paper code, printed by the grid worker, read at the desk.
    let (status, issued) =
        s.post(&format!("/api/v1/persons/{}/paper-code", c.mother), &c.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let paper = format!("{}/s/paper", s.base);
    let (status, html, _) = submit(
        &desk,
        &paper,
        &[("csrf", &csrf), ("venue", &shop), ("code", issued["token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let hers = visits_of(s, &c.admin, c.mother).await;
    assert_eq!(hers.len(), 2);
    assert!(hers.iter().any(|v| v["channel"] == "paper_code" && v["registrar"] == "door1"));
    // Door staff see the posters but may not reissue them; the venue manager may.
    let (status, desk_list, _) = page(&desk, &format!("{}/s/posters", s.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        desk_list.contains("平江鲜果坊")
            && desk_list.contains(&format!("/api/v1/venues/{}/poster.png", c.shop))
    );
    assert!(!desk_list.contains("/s/posters/reissue"), "no reissue button for door staff");
    let shop_id = c.shop.to_string();
    let (status, _, _) =
        submit(&desk, &format!("{}/s/posters/reissue", s.base), &[("csrf", &csrf), ("venue", &shop_id)])
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body =
        json!({"username": "mgr1", "password": "mgr1-password", "role": "venue_manager", "scope": "320508"});
    assert_eq!(s.post("/api/v1/users", &c.admin, body).await.0, StatusCode::CREATED);
    let manager = browser();
    submit(&manager, &format!("{}/s/login", s.base), &[("username", "mgr1"), ("password", "mgr1-password")])
        .await;
    let (_, list, _) = page(&manager, &format!("{}/s/posters", s.base)).await;
    assert!(list.contains("/api/v1/posters.pdf?region=320508"), "the district's posters in one file");
    let res = manager.get(format!("{}/api/v1/venues/{}/poster.svg", s.base, c.shop)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the download links work with the page's session");
    let manager_csrf = field(&list, "csrf");
    let (status, _, location) = submit(
        &manager,
        &format!("{}/s/posters/reissue", s.base),
        &[("csrf", &manager_csrf), ("venue", &shop_id)],
    )
    .await;
    assert_eq!((status, location), (StatusCode::SEE_OTHER, Some(format!("/s/posters?reissued={}", c.shop))));
    let (_, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.shop), &c.admin).await;
    assert_eq!(code["version"], 2);

    // Garbage in the scanner field is a deny visit with the typed reason, not an error.
    let (status, html, _) =
        submit(&desk, &paper, &[("csrf", &csrf), ("venue", &shop), ("code", "SN1:GARBAGE")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-outcome=\"deny\""));
}

async fn posters_come_in_every_format(s: &TestServer, sent: &Mutex<Vec<Value>>) {
    let c = city(s).await;
    let res = s
        .request(reqwest::Method::GET, &format!("/api/v1/venues/{}/poster.svg", c.shop), Some(&c.admin), None)
        .await;
    assert_eq!(res.headers()["content-type"], "image/svg+xml; charset=utf-8");
    let svg = res.text().await.unwrap();
    assert!(svg.contains("平江鲜果坊") && svg.contains("水果店") && svg.contains("编号 No. 320508-"));
    let fonts = s.state.fonts().is_ok();
    let res = s
        .request(reqwest::Method::GET, &format!("/api/v1/venues/{}/poster.png", c.shop), Some(&c.admin), None)
        .await;
    if !fonts {
        // Without a CJK font the answer says so (CI installs fonts-noto-cjk and requires the rest).
        assert!(
            std::env::var_os("SENTINEL_REQUIRE_FONTS").is_none(),
            "no CJK font but SENTINEL_REQUIRE_FONTS is set"
        );
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "cjk_font_missing");
        eprintln!("skipping the PNG and PDF checks: no CJK font installed");
        return;
    }
    assert_eq!(res.headers()["content-type"], "image/png");
    let png_bytes = res.bytes().await.unwrap();
    // The printed poster's QR, decoded from the 300 dpi PNG, is the URL that records a visit.
    let url = decode_qr(&png_bytes);
    let (_, code) = s.get(&format!("/api/v1/venues/{}/place-code", c.shop), &c.admin).await;
    assert_eq!(url, code["url"].as_str().unwrap());
    // Opened by a resident, the decoded URL records a visit.
    let phone = browser();
    let path = url.strip_prefix(&s.base).unwrap();
    sign_in(s, &phone, sent, &c.son_id, "13800000021", path).await;
    let (status, _, _) = page(&phone, &url).await;
    assert_eq!(status, StatusCode::OK);
    let visits = visits_of(s, &c.admin, c.son).await;
    assert_eq!((visits.len(), visits[0]["venue_id"].as_i64()), (1, Some(c.shop)));
    let res = s
        .request(reqwest::Method::GET, &format!("/api/v1/venues/{}/poster.pdf", c.shop), Some(&c.admin), None)
        .await;
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.bytes().await.unwrap().starts_with(b"%PDF-"));
    // A street's posters: one PDF page and one SVG + PDF pair in the ZIP per venue.
    let body = json!({"name": "平江菜场", "category": "wet_market", "region_code": "320508001001", "address": "平江路1号"});
    s.post("/api/v1/venues", &c.admin, body).await;
    let res =
        s.request(reqwest::Method::GET, "/api/v1/posters.pdf?region=320508001", Some(&c.admin), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(String::from_utf8_lossy(&res.bytes().await.unwrap()).contains("/Count 2"));
    let res =
        s.request(reqwest::Method::GET, "/api/v1/posters.zip?region=320508001", Some(&c.admin), None).await;
    assert_eq!(res.headers()["content-type"], "application/zip");
    let zip = res.bytes().await.unwrap();
    assert_eq!(
        zip.windows(4).filter(|w| w == b"PK\x01\x02").count(),
        4,
        "four entries in the central directory"
    );
    // Another district's posters are out of a district user's scope; a bad region is a 422.
    let other = s.user(&c.admin, "wuzhong", "venue_manager", "320506").await;
    let (status, _) = s.get(&format!("/api/v1/venues/{}/poster.svg", c.shop), &other).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = s.get("/api/v1/posters.zip?region=abc", &c.admin).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("region")));
    let (status, _) = s.get("/api/v1/venues/999999/place-code", &c.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn decode_qr(png_bytes: &[u8]) -> String {
    let mut reader = png::Decoder::new(png_bytes).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[(y * w + x) * 3]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

/// The page a retired poster shows, fixed as a snapshot (it is the same for everyone).
async fn the_retired_poster_page_reads_the_same(s: &TestServer) {
    let c = city(s).await;
    let (_, old) = s.get(&format!("/api/v1/venues/{}/place-code", c.shop), &c.admin).await;
    s.post(&format!("/api/v1/venues/{}/place-code/reissue", c.shop), &c.admin, json!({})).await;
    let (_, html, _) = page(&browser(), old["url"].as_str().unwrap()).await;
    insta::assert_snapshot!("retired_poster_page", html);
}

async fn start(backend: Backend, name: &str) -> Option<(TestServer, Arc<Mutex<Vec<Value>>>)> {
    let (url, sent) = sms_gateway().await;
    let server = TestServer::start_with(backend, name, |config| config.sms_gateway_url = Some(url)).await?;
    Some((server, sent))
}

macro_rules! page_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (server, sent) = super::start(super::Backend::Sqlite, "").await.unwrap();
                    super::$case(&server, &sent).await;
                    server.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((server, sent)) = super::start(super::Backend::Postgres, concat!("postgres::", stringify!($case))).await else { return };
                    super::$case(&server, &sent).await;
                    server.stop().await;
                }
            )*
        }
    };
}

page_tests!(
    a_resident_checks_in_from_the_poster,
    a_guardian_checks_in_a_dependant_in_one_step,
    one_time_codes_are_rate_limited_and_checked,
    staff_register_by_hand_and_by_paper_code,
    posters_come_in_every_format,
);

#[tokio::test]
async fn retired_poster_snapshot() {
    let (server, _) = start(Backend::Sqlite, "").await.unwrap();
    the_retired_poster_page_reads_the_same(&server).await;
    server.stop().await;
}
