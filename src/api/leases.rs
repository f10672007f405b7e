//! Worker endpoints: lease ready tasks, then heartbeat, ack or fail each one with its lease.
//!
//! Every call after the lease is fenced by its `lease_id`; the store decides whether that lease
//! is still live, and these handlers only map its answer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::extract::{
    ApiJson, Checks, QueueParams, QueuePath, TaskParams, TaskPath, compact_json, integer, present,
};
use super::responses::{BodyErrors, WorkerErrors};
use crate::error::ApiError;
use crate::model::{DELAY_MS_MAX, LEASE_ID_MAX, Lease, MAX_TASKS_MAX, Task, WORKER_NAME_MAX};
use crate::store::{Failure, FinishOutcome, HeartbeatOutcome, LeaseRequest};

/// Header set on a `200` that repeats an earlier, already applied call.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Body of a lease call. `{}` leases one task with the policy's lease length.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"worker": "mailer-1", "max_tasks": 10, "lease_ms": 60000}))]
pub struct LeaseTasksRequest {
    /// Your worker's name (1 to 128 printable characters), recorded on the tasks it leases.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    worker: Option<String>,
    /// Most tasks to lease (1 to 100, default 1).
    #[schema(minimum = 1, maximum = 100, default = 1)]
    #[serde(default, deserialize_with = "integer")]
    max_tasks: Option<i64>,
    /// Lease length (1000 to 86400000 ms); default the task's own, else the queue policy's.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    #[serde(default, deserialize_with = "integer")]
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
        checks.length("worker", name, 1, WORKER_NAME_MAX);
        if name.chars().any(char::is_control) {
            checks.fail("worker", "must not contain control characters");
        }
    }
    let max_tasks = checks
        .range("max_tasks", body.max_tasks, 1, MAX_TASKS_MAX.into())
        .unwrap_or(1);
    let lease_ms = checks.lease_ms("lease_ms", body.lease_ms);
    checks.finish()?;
    let request = LeaseRequest {
        worker: body.worker,
        max_tasks,
        lease_ms,
    };
    let leases = state.store.lease(&queue, request).await?;
    Ok(Json(LeaseList { leases }))
}

/// Body of a heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lease_id": "9f1c2b7e4d0a4b8f8e6c3a5d7b9e1f20", "lease_ms": 60000}))]
pub struct HeartbeatTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 128)]
    lease_id: Option<String>,
    /// New lease length from now (1000 to 86400000 ms); default the lease's own length.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    #[serde(default, deserialize_with = "integer")]
    lease_ms: Option<i64>,
}

/// Answer to a heartbeat.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"expires_at": "2026-11-25T13:26:30.000Z", "expires_in_ms": 60000}))]
pub struct HeartbeatResponse {
    /// New end of the lease (RFC 3339, Redis clock).
    expires_at: String,
    /// Milliseconds until `expires_at`, measured by Redis.
    expires_in_ms: u64,
}

/// Body of an ack.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lease_id": "9f1c2b7e4d0a4b8f8e6c3a5d7b9e1f20", "result": {"message_id": "<abc@example.com>"}}))]
pub struct AckTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 128)]
    lease_id: Option<String>,
    /// Any JSON value to keep with the task; at most `max_payload_bytes` as compact JSON.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<serde_json::Value>)]
    result: Option<Value>,
}

/// Body of a fail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lease_id": "9f1c2b7e4d0a4b8f8e6c3a5d7b9e1f20", "error": "SMTP 451: try again later", "retry": true}))]
pub struct FailTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 128)]
    lease_id: Option<String>,
    /// What went wrong. Kept in the task's error history, cut to 4096 bytes.
    #[schema(required = true, nullable = false)]
    error: Option<String>,
    /// Retry while attempts remain (default true); false sends the task to `dead` at once.
    #[schema(default = true)]
    retry: Option<bool>,
    /// Retry after this many ms instead of the backoff (capped at `backoff.max_ms`).
    #[schema(minimum = 0, maximum = 31_536_000_000_i64)]
    #[serde(default, deserialize_with = "integer")]
    retry_in_ms: Option<i64>,
}

/// Extend a lease
///
/// Keeps a leased task yours for `lease_ms` more (default: the lease's own length), counted
/// from now. `409 lease-lost` means the lease is gone (expired, re-leased or finished): stop
/// working on the task, your result would not be recorded.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/heartbeat",
    tag = "workers",
    params(TaskParams),
    request_body = HeartbeatTaskRequest,
    responses(
        (status = 200, description = "The lease was extended", body = HeartbeatResponse),
        WorkerErrors,
    )
)]
pub async fn heartbeat_task(
    State(state): State<AppState>,
    path: TaskPath,
    ApiJson(body): ApiJson<HeartbeatTaskRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let mut checks = Checks::default();
    let lease_id = lease_id(&mut checks, body.lease_id);
    let lease_ms = checks.lease_ms("lease_ms", body.lease_ms);
    checks.finish()?;
    match state
        .store
        .heartbeat(&path.queue, path.id, &lease_id, lease_ms)
        .await?
    {
        HeartbeatOutcome::Extended {
            expires_at,
            expires_in_ms,
        } => Ok(Json(HeartbeatResponse {
            expires_at,
            expires_in_ms,
        })),
        HeartbeatOutcome::LeaseLost => Err(ApiError::LeaseLost),
        HeartbeatOutcome::NotFound => Err(path.not_found()),
    }
}

/// Complete a task
///
/// Acknowledges a leased task as done, with an optional JSON `result`. Repeating the call with
/// the same `lease_id` after it succeeded returns `200` with the task as it is (and header
/// `Idempotent-Replayed: true`), so retrying after a lost reply is safe.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/ack",
    tag = "workers",
    params(TaskParams),
    request_body = AckTaskRequest,
    responses(
        (status = 200, description = "The task is completed", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when this repeats an ack that already applied"))),
        WorkerErrors,
    )
)]
pub async fn ack_task(
    State(state): State<AppState>,
    path: TaskPath,
    ApiJson(body): ApiJson<AckTaskRequest>,
) -> Result<Response, ApiError> {
    let mut checks = Checks::default();
    let lease_id = lease_id(&mut checks, body.lease_id);
    checks.finish()?;
    let result = body
        .result
        .map(|r| compact_json("result", &r, state.max_payload_bytes))
        .transpose()?;
    let outcome = state
        .store
        .ack(&path.queue, path.id, &lease_id, result)
        .await?;
    finish_response(outcome, &path)
}

/// Fail a task
///
/// Reports a failed attempt. With `retry` (the default) the task is tried again after its
/// backoff, or `retry_in_ms`, while attempts remain; otherwise it goes to `dead`. Repeating the
/// call with the same `lease_id` returns `200` with the task as it is and uses no extra attempt.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/fail",
    tag = "workers",
    params(TaskParams),
    request_body = FailTaskRequest,
    responses(
        (status = 200, description = "The failure was recorded; the task is `scheduled` for a retry or `dead`", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when this repeats a fail that already applied"))),
        WorkerErrors,
    )
)]
pub async fn fail_task(
    State(state): State<AppState>,
    path: TaskPath,
    ApiJson(body): ApiJson<FailTaskRequest>,
) -> Result<Response, ApiError> {
    let mut checks = Checks::default();
    let lease_id = lease_id(&mut checks, body.lease_id);
    let error = checks.required("error", body.error).unwrap_or_default();
    let retry_in_ms = checks.range("retry_in_ms", body.retry_in_ms, 0, DELAY_MS_MAX as i64);
    checks.finish()?;
    let failure = Failure {
        error,
        retry: body.retry.unwrap_or(true),
        retry_in_ms,
    };
    let outcome = state
        .store
        .fail(&path.queue, path.id, &lease_id, failure)
        .await?;
    finish_response(outcome, &path)
}

/// A lease id must be present and plausible; whether it is the live lease is the store's call.
fn lease_id(checks: &mut Checks, value: Option<String>) -> String {
    let value = checks.required("lease_id", value);
    if let Some(lease_id) = &value {
        checks.length("lease_id", lease_id, 1, LEASE_ID_MAX);
    }
    value.unwrap_or_default()
}

fn finish_response(outcome: FinishOutcome, path: &TaskPath) -> Result<Response, ApiError> {
    match outcome {
        FinishOutcome::Done(task) => Ok(Json(task).into_response()),
        FinishOutcome::Replayed(task) => {
            Ok(([(REPLAYED, HeaderValue::from_static("true"))], Json(task)).into_response())
        }
        FinishOutcome::LeaseLost => Err(ApiError::LeaseLost),
        FinishOutcome::NotFound => Err(path.not_found()),
    }
}
