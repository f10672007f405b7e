//! The lease endpoint: workers take ready tasks from a queue.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::extract::{ApiJson, Checks, QueueParams, QueuePath};
use super::responses::BodyErrors;
use super::tasks::{lease_max, lease_min};
use crate::error::ApiError;
use crate::model::{Lease, MAX_TASKS_MAX, WORKER_NAME_MAX};
use crate::store::LeaseRequest;

/// Body of a lease call. `{}` leases one task with the policy's lease length.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"worker": "mailer-1", "max_tasks": 10, "lease_ms": 60000}))]
pub struct LeaseTasksRequest {
    /// Your worker's name (up to 128 characters), recorded on the tasks it leases.
    worker: Option<String>,
    /// Most tasks to lease (1 to 100, default 1).
    #[schema(minimum = 1, maximum = 100, default = 1)]
    max_tasks: Option<i64>,
    /// Lease length (1000 to 86400000 ms); default the task's own, else the queue policy's.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    lease_ms: Option<i64>,
}

/// The leases granted; an empty list when nothing is ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseList {
    leases: Vec<Lease>,
}

/// Lease tasks
///
/// Leases up to `max_tasks` ready tasks, highest priority first and FIFO among equals. Each
/// lease is yours until `expires_at`: heartbeat to keep it, then ack or fail with its
/// `lease_id`. A lease that runs out counts as a failed attempt and the task is delivered again.
/// An empty queue is not an error: the answer is `200` with an empty list.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/leases",
    tag = "workers",
    params(QueueParams),
    request_body = LeaseTasksRequest,
    responses(
        (status = 200, description = "The leases granted (possibly none)", body = LeaseList),
        BodyErrors,
    )
)]
pub async fn lease_tasks(
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    ApiJson(body): ApiJson<LeaseTasksRequest>,
) -> Result<Json<LeaseList>, ApiError> {
    let mut checks = Checks::default();
    if let Some(name) = &body.worker {
        if name.is_empty()
            || name.chars().count() > WORKER_NAME_MAX
            || name.chars().any(char::is_control)
        {
            checks.fail("worker", "must be 1-128 printable characters");
        }
    }
    let max_tasks = checks
        .range("max_tasks", body.max_tasks, 1, MAX_TASKS_MAX.into())
        .unwrap_or(1);
    let lease_ms = checks.range("lease_ms", body.lease_ms, lease_min(), lease_max());
    checks.finish()?;
    let request = LeaseRequest {
        worker: body.worker,
        max_tasks,
        lease_ms,
    };
    let leases = state.store.lease(&queue, request).await?;
    Ok(Json(LeaseList { leases }))
}
