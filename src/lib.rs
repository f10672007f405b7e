//! taskgate: HTTP/REST task dispatch in front of Redis.
//!
//! # Layout
//!
//! - `config`: every setting, as a flag and a `TASKGATE_*` environment variable.
//! - `access`: API keys, roles and queue scopes (`api/auth.rs` applies them to requests).
//! - `limits`: header size, load shedding and deadlines; `metrics`: every Prometheus metric.
//! - `local_redis`: the `redis-server` child started when no Redis is configured.
//! - `model`: the domain vocabulary (queue names, tasks, leases, states, policy, bounds).
//! - `api`: HTTP handlers, one file per resource, and their extractors.
//! - `error`: `ApiError` → RFC 9457 problem+json; the one place status codes are chosen.
//! - `examples`: the OpenAPI document's example values, which agree with each other.
//! - `middleware`: request span and log, CORS; problem+json for every error, axum's own included.
//! - `server`: the accept loop: connection limit, header and idle timeouts, and how each
//!   connection ends on shutdown.
//! - `openapi`: the root of the OpenAPI document (served at `/openapi.json`, UI at `/docs`).
//! - `store`: the only code that speaks to Redis; one Lua script per state change.
//! - `reaper`: the background sweep that reclaims expired leases and purges old tasks.
//! - `telemetry`: logging set-up.
//! - `healthcheck`: the `taskgate healthcheck` client used by the container's HEALTHCHECK.
//!
//! Data flows one way: `api` → `store` → Redis. The API builds no keys; the store knows no HTTP.

pub mod access;
pub mod api;
pub mod config;
pub mod error;
pub mod examples;
pub mod healthcheck;
pub mod limits;
pub mod local_redis;
pub mod metrics;
pub mod middleware;
pub mod model;
pub mod openapi;
pub mod redact;
pub mod server;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use api::AppState;
use config::Config;
use store::PoolSettings;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How the router behaves around the handlers: its limits and its request log.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// One log line per request.
    pub access_log: bool,
    /// Web origins allowed to call from a browser (`*` for any); none means no CORS at all.
    pub cors_origins: Vec<String>,
    pub max_header_bytes: usize,
    /// Requests at once, short and waiting (see `load`).
    pub max_concurrent_requests: usize,
    pub max_waiting_requests: usize,
}

impl HttpSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes(),
            request_timeout: config.request_timeout(),
            access_log: config.access_log,
            cors_origins: config.cors_origins.clone(),
            max_header_bytes: config.max_header_bytes,
            max_concurrent_requests: config.max_concurrent_requests,
            max_waiting_requests: config.max_waiting_requests,
        }
    }
}

/// The OpenAPI document, exactly as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::router().1
}

/// The OpenAPI document as the pretty JSON committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default() + "\n"
}

/// The whole HTTP application: API, OpenAPI document, Swagger UI, and the layers around them.
///
/// Layers, outermost first: a request id for every request, and copied to its response (every
/// answer carries it, a CORS preflight's included); CORS headers for the configured web
/// origins; the request's span, log line and metrics; every error as problem+json; the
/// request's limits (headers, load shedding, deadline); the body limit. CORS preflights are
/// answered by a route layer, so only on paths a route serves (elsewhere: `404`).
/// Authentication is not a layer: it is the `Caller` extractor each handler takes.
pub fn app(state: AppState, settings: HttpSettings) -> Router {
    let (api, document) = api::router();
    let document = document.to_pretty_json().unwrap_or_default();
    let cors = middleware::cors(&settings.cors_origins);
    let limits = limits::Limits::new(
        settings.max_header_bytes,
        settings.request_timeout,
        settings.max_concurrent_requests,
        settings.max_waiting_requests,
    );
    let mut router = api
        .with_state(state)
        .merge(api::docs_routes(document))
        .merge(api::dashboard_routes());
    if let Some(cors) = &cors {
        router = router.route_layer(axum::middleware::from_fn_with_state(
            cors.clone(),
            middleware::cors_preflights,
        ));
    }
    let router = router
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(limits, limits::admit))
        .layer(axum::middleware::from_fn(middleware::problem_errors))
        .layer(axum::middleware::from_fn_with_state(
            settings.access_log,
            middleware::observe,
        ));
    let router = match cors {
        Some(cors) => router.layer(axum::middleware::from_fn_with_state(
            cors,
            middleware::cors_responses,
        )),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Builds the store and handler state from configuration. Connects to nothing yet.
pub fn state_from_config(config: &Config) -> Result<AppState, String> {
    let pool = PoolSettings {
        url: config
            .redis_url
            .clone()
            .ok_or("no Redis URL: set TASKGATE_REDIS_URL")?,
        ca_file: config.redis_ca_file.clone(),
        max_size: config.redis_pool_size,
        wait_timeout: Duration::from_millis(config.redis_wait_timeout_ms),
        connect_timeout: Duration::from_millis(config.redis_connect_timeout_ms),
        response_timeout: Duration::from_millis(config.redis_response_timeout_ms),
    };
    let store = store::open(&pool, &config.key_prefix, &config.default_policy())?;
    Ok(AppState {
        store,
        max_payload_bytes: config.max_payload_bytes,
        max_json_depth: config.max_json_depth,
        shutdown: tokio_util::sync::CancellationToken::new(),
        access: std::sync::Arc::new(config.access()),
        replication: store::Replication {
            replicas: config.durable_replicas,
            timeout: config.replica_wait(),
        },
        event_stream_max: config.event_stream_max(),
    })
}

/// Serves `state` on `listener` until `shutdown` resolves, with the reaper running beside it.
///
/// Shutdown order: stop accepting; close connections waiting for a request; end long-polls and
/// event streams at once (they answer empty); give in-flight requests up to
/// `--shutdown-timeout-ms` to finish; stop the reaper (between two scripts or mid-sweep: each
/// sweep step is one atomic script, so either is safe).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    metrics::install();
    metrics::limit_queue_series(config.metrics_max_queues, config.metrics_queue_idle());
    let store = state.store.clone();
    let stopping = state.shutdown.clone();
    tokio::spawn({
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            stopping.cancel();
        }
    });
    tokio::spawn(warn_unless_noeviction(
        store.engine.clone(),
        stopping.clone(),
    ));
    tokio::spawn(metrics::upkeep(Duration::from_secs(5), stopping.clone()));
    let reaper = config
        .reaper_interval()
        .map(|every| tokio::spawn(store::sweep::run(store.sweep, every, stopping.clone())));
    // Built once: each connection serves a clone of it, which shares its route table.
    let app = app(state, HttpSettings::from_config(config));
    let server = server::serve(listener, app, config.connection_limits(), stopping.clone());
    let grace = config.shutdown_timeout();
    let out_of_time = async {
        stopping.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {}
        () = out_of_time => {
            tracing::warn!(
                shutdown_timeout_ms = grace.as_millis() as u64,
                "in-flight requests did not finish within the shutdown timeout; stopping anyway"
            );
        }
    };
    stopping.cancel();
    if let Some(reaper) = reaper {
        let _ = reaper.await;
    }
    Ok(())
}

/// Warns loudly when Redis may evict keys: an evicted lease or task is a lost task. Retries in
/// the background until Redis answers, so a Redis that is down at start-up delays nothing.
async fn warn_unless_noeviction(
    store: store::Engine,
    stopping: tokio_util::sync::CancellationToken,
) {
    loop {
        match store.maxmemory_policy().await {
            Ok(policy) if policy == "noeviction" => return,
            Ok(policy) => {
                tracing::warn!(
                    maxmemory_policy = %policy,
                    "Redis maxmemory-policy is not noeviction: under memory pressure Redis may \
                     delete tasks and leases. Set `maxmemory-policy noeviction`."
                );
                return;
            }
            // The store's outage log has said why, once; keep trying quietly.
            Err(store::StoreError::Unavailable(_)) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = stopping.cancelled() => return,
                }
            }
            Err(other) => {
                tracing::warn!(error = %other, "could not read Redis maxmemory-policy");
                return;
            }
        }
    }
}
