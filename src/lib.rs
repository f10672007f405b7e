//! taskgate: HTTP/REST task dispatch in front of Redis.
//!
//! # Layout
//!
//! - `config`: every setting, as a flag and a `TASKGATE_*` environment variable.
//! - `model`: the domain vocabulary (queue names, tasks, leases, states, policy, cron, bounds).
//! - `access`: API keys, roles and queue scopes (`http/extract/auth.rs` applies them).
//! - `http`: the HTTP edge: router, layers, limits, serving, problem+json, extractors, the
//!   OpenAPI document's root, Swagger UI and the dashboard.
//! - `api`: the resources, one file (or folder) each: their handlers and request bodies.
//! - `store`: the only code that speaks to Redis: an engine and services on it, one Lua script
//!   per state change.
//! - `metrics`: every Prometheus metric; `telemetry`: logging set-up; `redact`: secrets kept
//!   out of logs.
//! - `local_redis`: the `redis-server` child started when no Redis is configured.
//! - `healthcheck`: the `taskgate healthcheck` client used by the container's HEALTHCHECK.
//! - `run`: the server command (resolve Redis, bind, serve until a signal); `main.rs` only
//!   picks the command and its runtime.
//!
//! Data flows one way: `http` → `api` → `store` → Redis. The API builds no keys; the store
//! knows no HTTP. ARCHITECTURE.md has the whole map.

pub mod access;
pub mod api;
pub mod config;
pub mod healthcheck;
pub mod http;
pub mod local_redis;
pub mod metrics;
pub mod model;
pub mod redact;
pub mod run;
pub mod store;
pub mod telemetry;

pub use http::{AppState, HttpSettings};

/// The OpenAPI document, exactly as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    http::openapi::router(api::routes()).1
}

/// The OpenAPI document as the pretty JSON committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default() + "\n"
}

/// The whole HTTP application (see `http::app`), serving the API's operations.
pub fn app(state: AppState, settings: HttpSettings) -> axum::Router {
    http::app(api::routes(), state, settings)
}

/// Serves the API on `listener` until `shutdown` resolves (see `http::serve`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: &config::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::serve(listener, api::routes(), state, config, shutdown).await
}

/// Builds the store and handler state from configuration. Connects to nothing yet.
pub fn state_from_config(config: &config::Config) -> Result<AppState, String> {
    AppState::from_config(config)
}
