//! Sentinel's HTTP server: the `/api/v1` JSON API with its OpenAPI document and Swagger UI, login and
//! scoped authorisation, audit, health, readiness and Prometheus metrics; the residents' pages (/r/,
//! check-in at /v/{token}) and the staff pages (/s/), rendered on the server.

pub mod api;
pub mod auth;
pub mod batches;
pub mod bounded;
pub mod config;
pub mod entry;
pub mod error;
pub mod exposure;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod single_flight;
pub mod sms;
pub mod state;
pub mod throttle;

use axum::Router;
use axum::http::Request;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use sentinel_store::{DataKey, PersonalDataCipher, Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

pub use config::{Config, ConfigError, LogFormat, Secret};
pub use error::{ApiError, Problem};
pub use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("数据库 / database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bootstrap(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// The personal-data key in force: from configuration, or generated once into the data directory.
pub fn data_key(config: &Config) -> Result<DataKey, StartError> {
    if let Some(hex) = &config.data_key {
        return Ok(DataKey::from_hex(hex.expose())?);
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        context: format!("cannot create data directory {}", config.data_dir.display()),
        source,
    })?;
    let path = config.data_dir.join("data.key");
    let (key, created) = DataKey::load_or_create(&path)?;
    if created {
        tracing::warn!(path = %path.display(), "generated a new personal-data key; back it up: without it the persons cannot be read");
    }
    Ok(key)
}

/// Opens the store the configuration names (running its migrations).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let key = data_key(config)?;
    Ok(sentinel_store::open(&config.database_url(), PersonalDataCipher::new(&key)).await?)
}

/// Builds the shared state over an opened store, creating the bootstrap administrator if configured.
pub async fn build_state(config: &Config, store: Arc<dyn Store>) -> Result<AppState, StartError> {
    if let Some(spec) = &config.bootstrap_admin {
        match auth::bootstrap_admin(&*store, spec.expose(), chrono::Utc::now())
            .await
            .map_err(StartError::Bootstrap)?
        {
            Some(name) => tracing::info!(username = %name, "created bootstrap administrator"),
            None => tracing::debug!("users exist; SENTINEL_BOOTSTRAP_ADMIN ignored"),
        }
    }
    let public_base_url = config.public_base_url();
    let now = chrono::Utc::now();
    let skew = chrono::Duration::seconds(i64::from(config.clock_skew_seconds));
    let keyring = health::KeyRing::load(&*store, now, skew).await?;
    let status = health::StatusCache::with_capacity(config.cached_persons);
    status.set_risk_areas(store.risk_areas(Some(now)).await?);
    status.follow_changes_from_now(&*store).await?;
    let policies = entry::PolicyBook::default();
    policies.reload(&*store).await?;
    let visits = entry::VisitWriter::start(store.clone());
    Ok(AppState::new(state::Inner {
        store,
        tz: config.utc_offset()?,
        session_ttl: chrono::Duration::hours(i64::from(config.session_hours.max(1))),
        secure_cookies: public_base_url.starts_with("https://"),
        public_base_url,
        metrics: metrics::Metrics::default(),
        keyring,
        // Half the cores may be checking signatures at once (the rest serve HTTP and the store).
        signatures: health::SignatureChecker::start(
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        ),
        status,
        issuer: config.issuer.clone(),
        policies,
        visits,
        trace_book: Arc::default(),
        alerts: entry::AlertFeed::default(),
        facts: entry::FactsCache::with_capacity(config.cached_persons),
        devices: entry::DeviceCache::default(),
        escalate_after: chrono::Duration::minutes(i64::from(config.escalate_after_minutes.max(1))),
        city_name: config.city_name.clone(),
        fonts: std::sync::OnceLock::new(),
        cjk_font: config.cjk_font.clone(),
        sms: sms::SmsGateway::new(config.sms_gateway_url.clone()),
        demo_banner: config.demo_banner,
        database_url: config.database_url(),
        throttle: throttle::Throttle::default(),
        trust_forwarded_for: config.trust_forwarded_for,
        warm_trace_index: config.warm_trace_index,
    }))
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::routes().split_for_parts();
    let request_span = |req: &Request<_>| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        // The path only: query strings can carry ID numbers and phones, which must never reach a log.
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    };
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api)
        .merge(pages::routes())
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .fallback(|| async { ApiError::route_not_found() })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                // A bug must cost one request a 500 problem, never the connection or the process.
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("handler panicked");
                    ApiError::internal().into_response()
                }))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refresher = tokio::spawn(refresh_periodically(state.clone()));
    let dispatcher = tokio::spawn(entry::dispatch::run(state.clone()));
    let escalator = tokio::spawn(entry::escalation::run(state.clone()));
    // Several nodes share a PostgreSQL store: each streams the alerts the others commit.
    let follower = (state.store.backend() == "postgres").then(|| {
        tokio::spawn(entry::escalation::follow_other_nodes(state.clone(), state.database_url.clone()))
    });
    // The trace index is read from the store in the background: the gate serves meanwhile. A gate-only
    // node may skip it (`warm_trace_index = false`): a first trace then builds it.
    let warm = state.clone();
    let index = tokio::spawn(async move {
        if !warm.warm_trace_index {
            tracing::info!("the trace index is built at the first trace (warm_trace_index is off)");
            return;
        }
        if let Err(e) = warm.trace_book.snapshot(warm.store.clone(), warm.now()).await {
            tracing::warn!(error = %e, "building the trace index failed; the first trace tries again");
        }
    });
    // The peer address reaches handlers (sign-in forms are limited per client).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    refresher.abort();
    dispatcher.abort();
    escalator.abort();
    if let Some(f) = follower {
        f.abort();
    }
    index.abort();
    served
}

/// How often a node picks up keys, revocations and risk areas written by other nodes.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

async fn refresh_periodically(state: AppState) {
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.refresh().await {
            tracing::warn!(error = %e, "refreshing keys, revocations and risk areas failed");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
