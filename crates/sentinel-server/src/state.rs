//! What every handler shares: the store, the display time zone, session settings and metrics.

use chrono::{DateTime, FixedOffset, Utc};
use sentinel_store::Store;
use std::ops::Deref;
use std::sync::Arc;

use crate::entry::{AlertFeed, DeviceCache, FactsCache, PolicyBook, VisitWriter};
use crate::exposure::TraceBook;
use crate::health::{KeyRing, SignatureChecker, StatusCache};
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
    /// Signs and verifies health codes; holds the trust list and revocations.
    pub keyring: KeyRing,
    /// Checks the signatures of the codes scanned at gates, in batches.
    pub signatures: SignatureChecker,
    /// Live health status per person, for the gate.
    pub status: StatusCache,
    /// CWT issuer of the codes this server signs.
    pub issuer: String,
    /// Published entry policies.
    pub policies: PolicyBook,
    /// Group commit of visits.
    pub visits: VisitWriter,
    /// The co-presence index tracing reads.
    pub trace_book: Arc<TraceBook>,
    /// Live alerts for the console streams.
    pub alerts: AlertFeed,
    /// Birth dates and masked names for the gate.
    pub facts: FactsCache,
    /// Device tokens, briefly.
    pub devices: DeviceCache,
    pub escalate_after: chrono::Duration,
    /// The deployment's name on posters and pages.
    pub city_name: String,
    /// Fonts for posters, found on first use (a server that never prints never scans the font folders).
    pub fonts: std::sync::OnceLock<Result<sentinel_print::Fonts, String>>,
    pub cjk_font: Option<std::path::PathBuf>,
    /// Where one-time sign-in codes go.
    pub sms: crate::sms::SmsGateway,
    /// Demo deployments show the one-time code on the page.
    pub demo_banner: bool,
    /// For the PostgreSQL listener that hears other nodes' alerts (never logged).
    pub database_url: String,
    /// Per-client limits on the sign-in forms.
    pub throttle: crate::throttle::Throttle,
    /// Read the client's address from `X-Forwarded-For` (behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// Build the trace index at start-up (else at the first trace).
    pub warm_trace_index: bool,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The one place the server reads the clock; domain code gets time as a parameter.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Reloads what other nodes may have changed: keys, revocations, risk areas.
    pub async fn refresh(&self) -> Result<(), sentinel_store::StoreError> {
        let now = self.now();
        self.keyring.reload_keys(&*self.store, now).await?;
        self.keyring.sync_revocations(&*self.store).await?;
        self.status.set_risk_areas(self.store.risk_areas(Some(now)).await?);
        self.status.sync_changes(&*self.store).await?;
        self.policies.reload(&*self.store).await?;
        Ok(())
    }

    /// The poster fonts, or why there are none (no CJK font installed).
    pub fn fonts(&self) -> Result<&sentinel_print::Fonts, crate::error::ApiError> {
        self.fonts
            .get_or_init(|| {
                sentinel_print::Fonts::discover(self.cjk_font.as_deref()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| crate::error::ApiError::no_cjk_font(e.clone()))
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
