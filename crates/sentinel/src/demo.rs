//! Seeding the demo city into a store, once per data set: regions, venues, devices, residents and the
//! demo users, with the administrator's password kept in the data directory.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sentinel_core::entry::{Celsius, Channel, Outcome, Readings};
use sentinel_core::health::{AssignmentSource, Colour, NatKind, NatOutcome, RiskLevel};
use sentinel_core::venue::EntryMode;
use sentinel_core::{DeviceKind, Role, Scope};
use sentinel_core::{PersonId, RegionCode};
use sentinel_server::Config;
use sentinel_server::entry::checkin::assess;
use sentinel_sim::{DemoCity, DemoOptions};
use sentinel_store::{
    NewAssignment, NewDevice, NewItinerary, NewNatResult, NewRiskArea, NewUser, NewVaccination, PageRequest,
    Store, VenueFilter, all_pages,
};
use std::io::Write;

const SEED_KEY: &str = "demo.seed";
const PASSWORD_FILE: &str = "demo-password.txt";
const BATCH: usize = 500;

/// Seeds the demo city unless this store holds one already; returns the login line to print.
pub async fn seed(
    store: &dyn Store,
    config: &Config,
    seed: u64,
    persons: usize,
    venues_per_district: usize,
) -> anyhow::Result<String> {
    let password = demo_password(config)?;
    match store.get_meta(SEED_KEY).await? {
        Some(existing) => {
            if existing != seed.to_string() {
                note!("注意 / note: this data set was seeded with seed {existing}; --seed {seed} ignored");
            }
        }
        None => {
            fill(store, DemoOptions { seed, persons, venues_per_district, ..Default::default() }, &password)
                .await?
        }
    }
    let admin = match &config.bootstrap_admin {
        Some(spec) => spec.expose().split(':').next().unwrap_or("admin").to_owned(),
        None => {
            ensure_user(store, "admin", &password, Role::Admin, Scope::All, "系统管理员").await?;
            "admin".to_owned()
        }
    };
    let admin_line = if config.bootstrap_admin.is_some() {
        format!("{admin} / (SENTINEL_BOOTSTRAP_ADMIN)")
    } else {
        format!("{admin} / {password}")
    };
    Ok(format!(
        "{admin_line}   (grid1, grid2, tracer, command, market, door, auditor / {password}; saved in {})",
        config.data_dir.join(PASSWORD_FILE).display()
    ))
}

/// The gate walk-through `sentinel demo` prints: a shopping complex that the demo's grid worker `grid1`
/// covers (the seeding places one there), its device with a fresh token (shown once per start), and a
/// resident who passes there now (green, fresh NAT, vaccinated), so the scenario can be followed
/// by hand: pass, turn red, deny and alert on `grid1`'s stream.
pub async fn gate_walkthrough(state: &sentinel_server::AppState) -> anyhow::Result<Vec<String>> {
    let store = &*state.store;
    let grid_worker = store.get_user_by_username("grid1").await?;
    let malls = |scope: Option<Scope>| VenueFilter {
        category: Some(sentinel_core::VenueCategory::CommercialComplex),
        scope,
        ..Default::default()
    };
    let mut found = None;
    for scope in [grid_worker.as_ref().map(|u| u.scope.clone()), None] {
        let in_scope = scope.is_some();
        if let Some(mall) = store.list_venues(&malls(scope), PageRequest::first(1)).await?.items.pop() {
            found = Some((mall, in_scope));
            break;
        }
    }
    let Some((mall, covered)) = found else { return Ok(Vec::new()) };
    let devices = store.list_devices(&VenueFilter::default(), Some(mall.id), PageRequest::first(1)).await?;
    let Some(device) = devices.items.into_iter().next() else { return Ok(Vec::new()) };
    let (token, hash) = sentinel_server::auth::new_device_token();
    store.set_device_token(device.id, Some(hash.as_slice())).await?;
    let mut lines = vec![
        format!("演示设备 / device:  {} (device {}), token {token}", mall.name, device.id.0),
        "                    POST /api/v1/device/scans with Authorization: Bearer <token>".to_owned(),
    ];
    if covered {
        lines.push(format!(
            "网格员 / grid:      grid1 hears {}'s alerts: GET /api/v1/alerts/stream",
            mall.name
        ));
    }
    let now = Utc::now();
    let policy = state.policies.effective(mall.id, mall.category, now);
    let readings = Readings { temperature: Celsius::new(36.5).ok(), mask: Some(true), face_match: None };
    for p in store.list_persons(None, PageRequest::first(PageRequest::MAX_LIMIT)).await?.items {
        let a = assess(state, p.id, &policy, readings, Channel::DeviceCode, now)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.problem().detail.unwrap_or_default()))?;
        if a.decision.outcome == Outcome::Pass {
            lines.push(format!(
                "通行 / passes:      person {} ({}): as admin POST /api/v1/persons/{}/health-code, scan its token",
                p.id.0, a.masked_name, p.id.0
            ));
            break;
        }
    }
    Ok(lines)
}

/// The demo users' password: generated once and kept (owner-readable) in the data directory.
fn demo_password(config: &Config) -> anyhow::Result<String> {
    let path = config.data_dir.join(PASSWORD_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text.trim().to_owned());
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let mut bytes = [0u8; 9];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let password = format!("demo-{}", hex::encode(bytes));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&path)
        .and_then(|mut f| f.write_all(password.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(password)
}

async fn ensure_user(
    store: &dyn Store,
    name: &str,
    password: &str,
    role: Role,
    scope: Scope,
    display: &str,
) -> anyhow::Result<()> {
    if store.get_user_by_username(name).await?.is_some() {
        return Ok(());
    }
    let hash = sentinel_server::auth::hash_password(password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let user = NewUser {
        username: name.to_owned(),
        password_hash: hash,
        role,
        scope,
        display_name: Some(display.to_owned()),
    };
    store.create_user(&user, chrono_now()).await?;
    Ok(())
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn progress(label: &str, done: usize, total: usize) {
    progress!("\r  {label}: {done}/{total}");
    if done == total {
        note!("");
    }
}

async fn fill(store: &dyn Store, opts: DemoOptions, password: &str) -> anyhow::Result<()> {
    let seed = opts.seed;
    let city = DemoCity::generate(opts);
    note!("生成演示城市 / seeding demo city (seed {seed})");
    let now = chrono_now();
    store.upsert_regions(&city.regions).await?;
    progress("区划 / regions", city.regions.len(), city.regions.len());
    store.create_venues(&city.venues, now).await?;
    progress("场所 / venues", city.venues.len(), city.venues.len());
    let mut devices = 0;
    let filter = VenueFilter::default();
    for v in all_pages(|page| store.list_venues(&filter, page)).await? {
        if v.category.entry_mode() == EntryMode::Device {
            let device = NewDevice {
                venue_id: v.id,
                kind: DeviceKind::Sentinel,
                serial: format!("SZ-{:06}-1", v.id.0),
                name: "入口1号数字哨兵".into(),
            };
            store.create_device(&device, now).await?;
            devices += 1;
        }
    }
    progress("设备 / devices", devices, devices);
    for (i, chunk) in city.persons.chunks(BATCH).enumerate() {
        store.create_persons(chunk, now).await?;
        progress("居民 / residents", (i * BATCH + chunk.len()).min(city.persons.len()), city.persons.len());
    }
    let ids: Vec<_> = city.persons.iter().map(|p| p.id_number.clone()).collect();
    let located = store.locate_persons(&ids).await?;
    let persons: Vec<PersonId> = located.into_iter().flatten().map(|(id, _)| id).collect();
    seed_health(store, &persons, seed, now).await?;
    for u in &city.users {
        ensure_user(store, u.username, password, u.role, u.scope.clone(), u.display_name).await?;
    }
    store.set_meta(SEED_KEY, &seed.to_string()).await?;
    Ok(())
}

/// Health records that make the demo city look like one mid-outbreak: most residents tested within three
/// days, most vaccinated, a few yellow and red codes, two risk areas and some travellers.
async fn seed_health(
    store: &dyn Store,
    persons: &[PersonId],
    seed: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4845_414c_5448);
    let (mut nats, mut vaccinations, mut stops, mut codes) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let today = now.date_naive();
    for &person_id in persons {
        if rng.gen_ratio(9, 10) {
            let sampled_at = now - Duration::minutes(rng.gen_range(60..72 * 60));
            let reported_at = (sampled_at + Duration::minutes(rng.gen_range(240..720))).min(now);
            let kind = if rng.gen_ratio(1, 5) { NatKind::Antigen } else { NatKind::Pcr };
            let lab = Some("苏州市疾病预防控制中心".to_owned());
            nats.push(NewNatResult {
                person_id,
                sampled_at,
                reported_at,
                outcome: NatOutcome::Negative,
                kind,
                lab,
                source_id: None,
            });
        }
        let doses = *[0u8, 1, 2, 2, 3, 3, 3, 3].get(rng.gen_range(0..8)).unwrap_or(&0);
        for dose in 1..=doses {
            let date = today - Duration::days(900 - i64::from(dose) * 60);
            let (product, manufacturer) = ("新冠病毒灭活疫苗（Vero细胞）", "北京科兴中维生物技术有限公司");
            vaccinations.push(NewVaccination {
                person_id,
                dose,
                date,
                product: product.into(),
                manufacturer: manufacturer.into(),
            });
        }
        if rng.gen_ratio(3, 100) {
            let from = today - Duration::days(rng.gen_range(2..12));
            stops.push(NewItinerary {
                person_id,
                region: RegionCode::parse("310115").expect("valid"),
                from,
                to: from + Duration::days(1),
            });
        }
        let colour = match rng.gen_range(0..1000) {
            0..=2 => Some((Colour::Red, "确诊病例密切接触者（演示数据）")),
            3..=12 => Some((Colour::Yellow, "时空伴随者（演示数据）")),
            _ => None,
        };
        if let Some((colour, reason)) = colour {
            let assignment = NewAssignment {
                person_id,
                colour,
                reason: reason.into(),
                source: AssignmentSource::Authority,
                set_by: "demo".into(),
                valid_from: now - Duration::days(1),
                valid_until: Some(now + Duration::days(6)),
            };
            store.add_assignment(&assignment, now).await?;
            codes += 1;
        }
    }
    store.add_nat_results(&nats, now).await?;
    store.add_vaccinations(&vaccinations, now).await?;
    store.add_itineraries(&stops, now).await?;
    for (region, name, level) in [
        ("310115", "上海市浦东新区", RiskLevel::High),
        ("320583008", "昆山市周庄镇（演示）", RiskLevel::Medium),
    ] {
        let area = NewRiskArea {
            region: RegionCode::parse(region).expect("valid"),
            name: name.into(),
            level,
            effective_from: now - Duration::days(10),
            effective_to: None,
            published_by: "demo".into(),
        };
        store.add_risk_area(&area, now).await?;
    }
    progress(
        "健康档案 / health records",
        nats.len() + vaccinations.len() + stops.len() + codes,
        nats.len() + vaccinations.len() + stops.len() + codes,
    );
    Ok(())
}

/// A resident who was at a market yesterday together with others, for the tracing walk-through:
/// `(person id, market name, local entry time)`.
pub async fn market_visitor(
    store: &dyn Store,
    tz: chrono::FixedOffset,
) -> anyhow::Result<Option<(i64, String, String)>> {
    let today = Utc::now().with_timezone(&tz).date_naive();
    let midnight = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0).and_then(|t| t.and_local_timezone(tz).single()).map(|t| t.to_utc())
    };
    let (Some(from), Some(to)) = (midnight(today - Duration::days(1)), midnight(today)) else {
        return Ok(None);
    };
    let markets =
        VenueFilter { category: Some(sentinel_core::VenueCategory::WetMarket), ..Default::default() };
    for market in store.list_venues(&markets, PageRequest::first(PageRequest::MAX_LIMIT)).await?.items {
        let filter = sentinel_store::VisitFilter {
            venue: Some(market.id),
            from: Some(from),
            to: Some(to),
            ..Default::default()
        };
        let mut visits = store.list_visits(&filter, PageRequest::first(PageRequest::MAX_LIMIT)).await?.items;
        visits.sort_by_key(|v| v.entered_at);
        // Someone whose stay (or the category's default one) overlaps the next visitor's entry.
        for pair in visits.windows(2) {
            let stay = Duration::minutes(i64::from(market.category.default_stay_minutes()));
            let end = pair[0].left_at.unwrap_or(pair[0].entered_at + stay);
            if let (Some(person), true) = (pair[0].person_id, pair[1].entered_at < end) {
                let at = pair[0].entered_at.with_timezone(&tz).format("%H:%M").to_string();
                return Ok(Some((person.0, market.name, at)));
            }
        }
    }
    Ok(None)
}

/// A place-code venue's poster written to `{data_dir}/posters/` (SVG, and PNG and PDF when a CJK font is
/// installed), a resident with a phone to sign in as, and an elderly relative to add as family: the lines
/// `sentinel demo` prints so a person can follow the flow in a browser.
pub async fn resident_walkthrough(
    state: &sentinel_server::AppState,
    config: &Config,
) -> anyhow::Result<Vec<String>> {
    let store = &*state.store;
    let mut lines = Vec::new();
    let shops = VenueFilter { category: Some(sentinel_core::VenueCategory::FruitShop), ..Default::default() };
    let venue = match store.list_venues(&shops, PageRequest::first(1)).await?.items.into_iter().next() {
        Some(v) => v,
        None => return Ok(lines),
    };
    let dir = config.data_dir.join("posters");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let base = dir.join(format!("venue-{}", venue.id.0));
    let fonts = state.fonts();
    let family = fonts.as_ref().map_or(sentinel_print::fonts::CJK_FAMILIES[0], |f| f.family.as_str());
    let (code, svg) = sentinel_server::api::place_codes::current_poster(state, &venue, family)
        .map_err(|e| anyhow::anyhow!("{:?}", e.problem()))?;
    std::fs::write(base.with_extension("svg"), &svg)?;
    let printed = match fonts {
        Ok(fonts) => {
            std::fs::write(base.with_extension("png"), sentinel_print::png(&svg, fonts, 300)?)?;
            std::fs::write(
                base.with_extension("pdf"),
                sentinel_print::pdf_pages(std::slice::from_ref(&svg), fonts)?,
            )?;
            format!("{}.png (.pdf, .svg)", base.display())
        }
        Err(e) => format!("{}.svg (PNG/PDF: {:?})", base.display(), e.problem().detail),
    };
    lines.push(format!("场所码海报 / poster:   {} — {printed}", venue.name));
    lines.push(format!("                      {}", code.url));
    // A green resident with a phone, and someone born before 1960 to add as family.
    let now = Utc::now();
    let persons = store.list_persons(None, PageRequest::first(PageRequest::MAX_LIMIT)).await?.items;
    let mut resident = None;
    let mut relative = None;
    for p in &persons {
        let status = state.status.status(store, p.id, now, state.tz).await?;
        if resident.is_none()
            && p.phone.is_some()
            && status.colour == Colour::Green
            && status.last_nat.is_some()
        {
            resident = Some(p);
        } else if relative.is_none()
            && p.id_number.birth_date() < chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default()
        {
            relative = Some(p);
        }
    }
    if let Some(r) = resident {
        lines.push(format!(
            "居民登录 / resident:  http://{}/r/login  ID {}  phone {}  (验证码显示在页面上 / the code is shown on the page)",
            config.listen,
            r.id_number.as_str(),
            r.phone.as_ref().map_or("", |p| p.as_str())
        ));
    }
    if let Some(r) = relative {
        lines.push(format!(
            "添加家属 / family:    {} {} (at /r/family)",
            r.name.as_str(),
            r.id_number.as_str()
        ));
    }
    lines.push(format!("工作人员 / staff:     http://{}/s/login (door / the password above)", config.listen));
    Ok(lines)
}
