//! Seeding the demo city into a store, once per data set: regions, venues, devices, residents and the
//! demo users, with the administrator's password kept in the data directory.

use anyhow::Context;
use rand::RngCore;
use sentinel_core::venue::EntryMode;
use sentinel_core::{DeviceKind, Role, Scope};
use sentinel_server::Config;
use sentinel_sim::{DemoCity, DemoOptions};
use sentinel_store::{NewDevice, NewUser, PageRequest, Store, VenueFilter};
use std::io::Write;

const SEED_KEY: &str = "demo.seed";
const PASSWORD_FILE: &str = "demo-password.txt";
const BATCH: usize = 500;

/// Seeds the demo city unless this store holds one already; returns the login line to print.
pub async fn seed(store: &dyn Store, config: &Config, seed: u64, persons: usize) -> anyhow::Result<String> {
    let password = demo_password(config)?;
    match store.get_meta(SEED_KEY).await? {
        Some(existing) => {
            if existing != seed.to_string() {
                eprintln!(
                    "注意 / note: this data set was seeded with seed {existing}; --seed {seed} ignored"
                );
            }
        }
        None => fill(store, seed, persons, &password).await?,
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
        "{admin_line}   (grid1, grid2, tracer, command, market, auditor / {password}; saved in {})",
        config.data_dir.join(PASSWORD_FILE).display()
    ))
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
    eprint!("\r  {label}: {done}/{total}");
    if done == total {
        eprintln!();
    }
}

async fn fill(store: &dyn Store, seed: u64, persons: usize, password: &str) -> anyhow::Result<()> {
    let city = DemoCity::generate(DemoOptions { seed, persons, ..Default::default() });
    eprintln!("生成演示城市 / seeding demo city (seed {seed})");
    let now = chrono_now();
    store.upsert_regions(&city.regions).await?;
    progress("区划 / regions", city.regions.len(), city.regions.len());
    store.create_venues(&city.venues, now).await?;
    progress("场所 / venues", city.venues.len(), city.venues.len());
    let mut devices = 0;
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let venues = store.list_venues(&VenueFilter::default(), page).await?;
        for v in venues.items.iter().filter(|v| v.category.entry_mode() == EntryMode::Device) {
            let device = NewDevice {
                venue_id: v.id,
                kind: DeviceKind::Sentinel,
                serial: format!("SZ-{:06}-1", v.id.0),
                name: "入口1号数字哨兵".into(),
            };
            store.create_device(&device, now).await?;
            devices += 1;
        }
        match venues.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    progress("设备 / devices", devices, devices);
    for (i, chunk) in city.persons.chunks(BATCH).enumerate() {
        store.create_persons(chunk, now).await?;
        progress("居民 / residents", (i * BATCH + chunk.len()).min(city.persons.len()), city.persons.len());
    }
    for u in &city.users {
        ensure_user(store, u.username, password, u.role, u.scope.clone(), u.display_name).await?;
    }
    store.set_meta(SEED_KEY, &seed.to_string()).await?;
    Ok(())
}
