//! The HTTP edge: everything between a socket and a resource handler. The router and its layers
//! (`app`), serving with an orderly shutdown (`serve`, `server`), the request limits
//! (`limits`), logs, metrics and problem+json for every error (`middleware`, `problem`), the
//! extractors handlers take (`extract`), the OpenAPI document's root and its assembly
//! (`openapi`, `responses`), Swagger UI (`docs`) and the dashboard (`dashboard`).
//! The resources themselves are in `api/`; this module runs no Redis command (it reaches the
//! store through its services, and `serve` starts the store's background work).

pub mod batch;
pub mod conditions;
pub mod dashboard;
pub mod docs;
pub mod extract;
mod fold;
pub mod limits;
pub mod merge_patch;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod responses;
pub mod server;
pub mod state;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::config::Config;
use crate::metrics;
pub use state::{ApiRoutes, AppState};

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

/// The whole HTTP application: API, OpenAPI document, Swagger UI, and the layers around them.
///
/// Layers, outermost first: a request id for every request, and copied to its response (every
/// answer carries it, a CORS preflight's included); CORS headers for the configured web
/// origins; the request's span, log line and metrics; every error as problem+json; the
/// request's limits (headers, load shedding, deadline); the body limit. CORS preflights are
/// answered by a route layer, so only on paths a route serves (elsewhere: `404`).
/// Authentication is not a layer: it is the `Caller` extractor each handler takes.
pub fn app(api: ApiRoutes, mut state: AppState, settings: HttpSettings) -> Router {
    let (api, document) = openapi::router(api);
    // Who may call what is read from the document the server serves: one declaration.
    state.rules = std::sync::Arc::new(extract::auth::Rules::from_document(&document));
    let document = document.to_pretty_json().unwrap_or_default();
    let router = api
        .with_state(state::RouterState::new(state))
        .merge(docs::routes(document))
        .merge(dashboard::routes());
    around(router, &settings)
}

/// The layers around the routes (see `app`). Innermost, a handler that panics answers a
/// problem+json `500` (logged with what it said) instead of dropping the connection, and the
/// server goes on serving.
fn around(mut router: Router, settings: &HttpSettings) -> Router {
    let cors = middleware::cors(&settings.cors_origins);
    let limits = limits::Limits::new(
        settings.max_header_bytes,
        settings.request_timeout,
        settings.max_concurrent_requests,
        settings.max_waiting_requests,
    );
    if let Some(cors) = &cors {
        router = router.route_layer(axum::middleware::from_fn_with_state(
            cors.clone(),
            middleware::cors_preflights,
        ));
    }
    let cors_responses =
        cors.map(|cors| axum::middleware::from_fn_with_state(cors, middleware::cors_responses));
    // All of them as one layer, outermost first: axum boxes a route's future once for each
    // `Router::layer` (eight boxes per request before, one now; the `from_fn` layers still box
    // their own), which was about 6% of the server's instructions per request (callgrind).
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .option_layer(cors_responses)
        .layer(axum::middleware::from_fn_with_state(
            settings.access_log,
            middleware::observe,
        ))
        .layer(axum::middleware::from_fn(middleware::problem_errors))
        .layer(axum::middleware::from_fn_with_state(limits, limits::admit))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(CatchPanicLayer::custom(middleware::panicked));
    router.layer(layers)
}

/// Serves `state` on `listener` until `shutdown` resolves, with the reaper running beside it.
///
/// Shutdown order: stop accepting; close connections waiting for a request; end long-polls and
/// event streams at once (they answer empty); give in-flight requests up to
/// `--shutdown-timeout-ms` to finish; stop the reaper (between two scripts or mid-sweep: each
/// sweep step is one atomic script, so either is safe).
pub async fn serve(
    listener: TcpListener,
    api: ApiRoutes,
    state: AppState,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    metrics::install();
    metrics::limit_queue_series(config.metrics_max_queues, config.metrics_queue_idle());
    let store = state.store.clone();
    let stopping = state.shutdown.0.clone();
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
    let reaper = config.reaper_interval().map(|every| {
        tokio::spawn(crate::store::sweep::run(
            store.sweep,
            every,
            stopping.clone(),
        ))
    });
    // Built once: each connection serves a clone of it, which shares its route table.
    let app = app(api, state, HttpSettings::from_config(config));
    let server = server::serve(
        listener,
        app,
        server::ConnectionLimits::from_config(config),
        stopping.clone(),
    );
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
    store: crate::store::Engine,
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
            Err(crate::store::StoreError::Unavailable(_)) => {
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

#[cfg(test)]
mod tests;
