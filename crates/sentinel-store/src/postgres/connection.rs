//! How the pool connects: the URL's settings, with TCP keepalives that notice a dropped connection.

use crate::StoreError;
use std::time::Duration;

/// libpq's default idle time before the first keepalive probe, which tokio-postgres shares.
const LIBPQ_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 3600);

/// The URL's connection settings, with TCP keepalives that find a dead connection within about a minute and
/// a half (unless the URL sets its own): the LIFO pool leaves rarely used connections idle for long, and a
/// firewall or NAT that dropped one meanwhile would otherwise fail the request that next takes it; with
/// the probes the kernel closes it, and the pool's recycling check (`is_closed`) replaces it.
pub fn connection_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL {}: {e}", crate::redact_url(url))))?;
    if config.get_keepalives_idle() == LIBPQ_KEEPALIVES_IDLE {
        config.keepalives_idle(Duration::from_secs(60));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(10));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalives_probe_an_idle_connection_unless_the_url_says_otherwise() {
        let config = connection_config("postgres://u@db.example/sentinel").unwrap();
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(config.get_keepalives_interval(), Some(Duration::from_secs(10)));
        assert_eq!(config.get_keepalives_retries(), Some(3));
        let own = connection_config("postgres://u@db.example/sentinel?keepalives_idle=300").unwrap();
        assert_eq!(own.get_keepalives_idle(), Duration::from_secs(300));
        assert!(matches!(
            connection_config("postgres://u@h/db?keepalives_idle=soon"),
            Err(StoreError::Config(_))
        ));
    }
}
