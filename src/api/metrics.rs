//! `/metrics`: the Prometheus exposition of `crate::metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::http::extract::auth::Caller;
use crate::store::Engine;

/// Prometheus metrics
///
/// Every metric of this instance in the Prometheus text format: requests by route and status,
/// task transitions by queue, lease waits, queue depths (as the reaper last sampled them),
/// Redis latency and errors, the connection pool and the reaper. Needs an admin key unless the
/// server runs with `TASKGATE_METRICS_ACCESS=open`.
#[utoipa::path(
    get,
    path = "/metrics",
    security(("bearer" = ["admin"])),
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4",
            body = String, example = "taskgate_http_requests_total{method=\"POST\",route=\"/v1/queues/{queue}/tasks\",status=\"201\"} 42\n"),
    )
)]
pub async fn get_metrics(_caller: Caller, State(engine): State<Engine>) -> Response {
    engine.report_pool();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}
