//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::responses::ReadinessErrors;
use crate::store::Engine;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthStatus {
    /// `ok` (alive) or `ready` (Redis answers).
    status: &'static str,
}

/// Liveness
///
/// `200` while the process serves HTTP. Does no I/O, so a Redis outage never restarts healthy
/// instances.
#[utoipa::path(
    get,
    path = "/healthz",
    security(()),
    tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
pub async fn get_health() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Readiness
///
/// `200` when Redis answers a PING within the configured timeouts, else `503 unavailable`.
#[utoipa::path(
    get,
    path = "/readyz",
    security(()),
    tag = "health",
    responses((status = 200, description = "Redis answers", body = HealthStatus), ReadinessErrors)
)]
pub async fn get_readiness(State(engine): State<Engine>) -> Result<Json<HealthStatus>, ApiError> {
    engine.ping().await?;
    Ok(Json(HealthStatus { status: "ready" }))
}
