//! The HTTP API: one file per resource, plus the extractors and OpenAPI error sets they share.
//!
//! `routes()` is the single list of operations; both the served router and the OpenAPI
//! document come from it, so they cannot drift apart.

mod extract;
mod health;
mod leases;
mod responses;
mod tasks;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Largest payload or result, in bytes of compact JSON.
    pub max_payload_bytes: usize,
}

/// Every operation of the API, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(tasks::submit_task))
        .routes(routes!(tasks::get_task))
        .routes(routes!(leases::lease_tasks))
        .routes(routes!(leases::heartbeat_task))
        .routes(routes!(leases::ack_task))
        .routes(routes!(leases::fail_task))
        .routes(routes!(health::get_health))
        .routes(routes!(health::get_readiness))
}
