//! What every handler shares: the store, the display time zone, session settings and metrics.

use chrono::{DateTime, FixedOffset, Utc};
use sentinel_store::Store;
use std::ops::Deref;
use std::sync::Arc;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    /// The city's zone: API timestamps carry its offset (`2024-04-29T14:03:05+08:00`).
    pub tz: FixedOffset,
    pub session_ttl: chrono::Duration,
    /// Whether cookies get the `Secure` attribute (when the public URL is https).
    pub secure_cookies: bool,
    pub public_base_url: String,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The one place the server reads the clock; domain code gets time as a parameter.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// A stored UTC time in the city's zone, for responses.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.tz)
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
