//! Test support shared by the contract suite and the server's integration tests: a fresh database per
//! test on either backend.
//!
//! PostgreSQL tests use the server at `SENTINEL_TEST_POSTGRES_URL`. When it is unset they are skipped
//! with a printed reason, unless `SENTINEL_REQUIRE_POSTGRES=1` (CI), which turns the skip into a failure.

use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::NoTls;

use crate::StoreError;

pub const POSTGRES_URL_VAR: &str = "SENTINEL_TEST_POSTGRES_URL";
pub const REQUIRE_POSTGRES_VAR: &str = "SENTINEL_REQUIRE_POSTGRES";
const PREFIX: &str = "sentinel_t_";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database created for one test; [`TestDatabase::drop_database`] removes it.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

/// The PostgreSQL URL to test against, `None` (after printing why) when tests should skip.
/// Panics when PostgreSQL is required but not configured.
pub fn postgres_url_or_skip(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
            }
            eprintln!(
                "SKIPPED {test}: PostgreSQL tests need {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1/test)"
            );
            None
        }
    }
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin_client(admin_url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl TestDatabase {
    /// Creates an empty database on the server `admin_url` points at. Databases left behind by test
    /// processes that no longer run are dropped first.
    pub async fn create(admin_url: &str) -> Result<Self, StoreError> {
        let client = admin_client(admin_url).await?;
        let pid = std::process::id();
        for row in client
            .query("SELECT datname FROM pg_database WHERE datname LIKE $1", &[&format!("{PREFIX}%")])
            .await?
        {
            let name: String = row.get(0);
            let owner_pid =
                name.trim_start_matches(PREFIX).split('_').next().and_then(|p| p.parse::<u32>().ok());
            let alive =
                owner_pid.is_some_and(|p| p == pid || std::path::Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            }
        }
        let name = format!("{PREFIX}{pid}_{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(Self { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name), name })
    }

    pub async fn drop_database(self) -> Result<(), StoreError> {
        let client = admin_client(&self.admin_url).await?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
