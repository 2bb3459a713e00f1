//! Sentinel's storage: one contract ([`Store`]) and its two backends, chosen once at start-up by the
//! database URL: SQLite (embedded default, one file in WAL mode) and PostgreSQL (larger deployments).
//!
//! Personal data (name, ID number, phone, address) is encrypted before it reaches either backend and
//! found again through keyed blind indexes; see [`crypto`].

pub mod cases;
pub mod contract;
pub mod credentials;
pub mod crypto;
pub mod entry;
pub mod entry_rows;
pub mod error;
pub mod health;
pub mod health_rows;
pub mod model;
pub mod outbox;
pub mod outbox_rows;
pub mod postgres;
pub mod query;
pub mod residents;
pub mod sqlite;
pub mod testing;

use std::path::Path;
use std::sync::Arc;

pub use cases::*;
pub use contract::Store;
pub use credentials::*;
pub use crypto::{DataKey, PersonalDataCipher};
pub use entry::*;
pub use error::StoreError;
pub use health::*;
pub use model::*;
pub use outbox::*;
pub use residents::*;

/// The schema version both backends' migrations bring a database to.
pub const SCHEMA_VERSION: i64 = 16;

/// Opens the store a database URL names (`sqlite://PATH` or `postgres://…`) and
/// brings its schema up to date.
pub async fn open(url: &str, cipher: PersonalDataCipher) -> Result<Arc<dyn Store>, StoreError> {
    let cipher = Arc::new(cipher);
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = sqlite::SqliteStore::open(Path::new(path), cipher)?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::PostgresStore::connect(url, cipher).await?;
        Ok(Arc::new(store))
    } else {
        Err(StoreError::Config(format!(
            "不支持的数据库地址 / unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// A URL with any password (`user:pw@` or `?password=`) replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, q)) => (base, Some(q)),
        None => (url, None),
    };
    let base = redact_userinfo(url);
    match query {
        None => base,
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", q.join("&"))
        }
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite:///tmp/x"), "sqlite:///tmp/x");
        assert_eq!(
            super::redact_url("postgres://u@h/db?sslmode=disable&password=pw"),
            "postgres://u@h/db?sslmode=disable&password=***"
        );
    }
}
