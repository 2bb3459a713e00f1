//! Errors of the storage layer.

/// Clone, so a read that several callers wait for can hand each of them its failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names what already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// A reference to something that does not exist (e.g. an unknown region code).
    #[error("unknown reference: {0}")]
    Reference(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored personal data could not be decrypted (wrong key?)")]
    Crypto,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            let text = msg.clone().unwrap_or_default();
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return StoreError::Conflict(text);
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::Reference(text),
                _ => {}
            }
        }
        if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
            return StoreError::NotFound;
        }
        StoreError::Backend(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(db) = e.as_db_error() {
            if *db.code() == SqlState::UNIQUE_VIOLATION {
                return StoreError::Conflict(db.constraint().unwrap_or_default().to_owned());
            }
            if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
                return StoreError::Reference(db.constraint().unwrap_or_default().to_owned());
            }
            return StoreError::Backend(format!("{}: {}", db.code().code(), db.message()));
        }
        StoreError::Backend(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Backend(other.to_string()),
        }
    }
}
