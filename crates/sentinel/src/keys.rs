//! `sentinel keys list | rotate | retire`: the health-code signing keys in the store.

use anyhow::Context as _;
use sentinel_server::Config;
use sentinel_server::health::KeyRing;

pub async fn list(config: &Config) -> anyhow::Result<()> {
    let store = sentinel_server::open_store(config).await?;
    // Loading creates the trust anchor and the first issuer key on a fresh store.
    KeyRing::load(&*store, chrono::Utc::now(), chrono::Duration::zero()).await?;
    let tz = config.utc_offset()?;
    let show = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_owned(), |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
    };
    say!(
        "{:<18} {:<8} {:<8} {:<20} {:<20} {:<20}",
        "kid",
        "purpose",
        "alg",
        "not_before",
        "not_after",
        "retired_at"
    )?;
    for k in store.keys().await? {
        say!(
            "{:<18} {:<8} {:<8} {:<20} {:<20} {:<20}",
            k.kid,
            k.purpose.code(),
            k.algorithm,
            show(Some(k.not_before)),
            show(k.not_after),
            show(k.retired_at)
        )?;
    }
    Ok(())
}

pub async fn rotate(config: &Config) -> anyhow::Result<()> {
    let store = sentinel_server::open_store(config).await?;
    let now = chrono::Utc::now();
    KeyRing::load(&*store, now, chrono::Duration::zero()).await?;
    let kid = KeyRing::rotate(&*store, now).await?;
    say!("新签发密钥 / new issuer key {kid}; running servers switch within a minute")?;
    Ok(())
}

pub async fn retire(config: &Config, kid: &str) -> anyhow::Result<()> {
    let store = sentinel_server::open_store(config).await?;
    KeyRing::retire(&*store, kid, chrono::Utc::now())
        .await
        .with_context(|| format!("no key {kid}: see `sentinel keys list`"))?;
    say!("密钥已撤销 / key {kid} retired: codes it signed no longer verify")?;
    Ok(())
}
