//! Task endpoints: submit and read (producers), heartbeat, ack and fail (workers).
//!
//! Handlers check input, call one store operation and map its outcome to a response; they build
//! no Redis keys and hold no state.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::extract::{
    ApiJson, Checks, QueueParams, QueuePath, TaskParams, TaskPath, compact_json, present,
};
use super::responses::{BodyErrors, ReadErrors, WorkerErrors};
use crate::error::ApiError;
use crate::model::{
    DELAY_MS_MAX, LEASE_MS_MAX, LEASE_MS_MIN, MAX_ATTEMPTS_MAX, PRIORITY_MAX, PRIORITY_MIN, Task,
    parse_rfc3339_ms,
};
use crate::store::{Failure, FinishOutcome, HeartbeatOutcome, NewTask, Start};

/// Latest accepted `run_at` (ms): 2286-11-20, where epoch milliseconds reach 14 digits.
const RUN_AT_MAX_MS: i64 = 9_999_999_999_999;

/// Header set on a `200` that repeats an earlier, already applied call.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Body of a submit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"payload": {"to": "ada@example.com", "template": "welcome"}, "priority": 10, "delay_ms": 5000}))]
pub struct SubmitTaskRequest {
    /// Any JSON value (`null` included); at most the policy's `max_payload_bytes` as compact JSON.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = serde_json::Value, required = true)]
    payload: Option<Value>,
    /// -1000 to 1000, default 0. Higher is leased first; FIFO among equals.
    #[schema(minimum = -1000, maximum = 1000, default = 0)]
    priority: Option<i64>,
    /// Wait this long (0 to 31536000000 ms) before the task is ready. Not with `run_at`.
    #[schema(minimum = 0, maximum = 31_536_000_000_i64)]
    delay_ms: Option<i64>,
    /// RFC 3339 time at which the task becomes ready; a past time means now. Not with `delay_ms`.
    #[schema(example = "2026-11-25T18:00:00Z")]
    run_at: Option<String>,
    /// Attempts allowed for this task (1 to 1000); default the queue policy's.
    #[schema(minimum = 1, maximum = 1000)]
    max_attempts: Option<i64>,
    /// Lease length for this task (1000 to 86400000 ms) when the worker asks for none.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    lease_ms: Option<i64>,
}

/// Body of a heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lease_id": "9f1c2b7e4d0a4b8f8e6c3a5d7b9e1f20", "lease_ms": 60000}))]
pub struct HeartbeatTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(required = true)]
    lease_id: Option<String>,
    /// New lease length from now (1000 to 86400000 ms); default the lease's own length.
    #[schema(minimum = 1000, maximum = 86_400_000)]
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
    #[schema(required = true)]
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
    #[schema(required = true)]
    lease_id: Option<String>,
    /// What went wrong. Kept in the task's error history, cut to 4096 bytes.
    #[schema(required = true)]
    error: Option<String>,
    /// Retry while attempts remain (default true); false sends the task to `dead` at once.
    #[schema(default = true)]
    retry: Option<bool>,
    /// Retry after this many ms instead of the backoff (capped at `backoff.max_ms`).
    #[schema(minimum = 0, maximum = 31_536_000_000_i64)]
    retry_in_ms: Option<i64>,
}

/// Submit a task
///
/// Adds a task to the queue. It is ready at once, or at `run_at` / after `delay_ms`. The `201`
/// means the task is stored in Redis: it will not be lost.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks",
    tag = "tasks",
    params(QueueParams),
    request_body = SubmitTaskRequest,
    responses(
        (status = 201, description = "The task was stored", body = Task,
            headers(("Location" = String, description = "Path of the new task"))),
        BodyErrors,
    )
)]
pub async fn submit_task(
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    ApiJson(body): ApiJson<SubmitTaskRequest>,
) -> Result<Response, ApiError> {
    let mut checks = Checks::default();
    let payload = checks.required("payload", body.payload);
    let priority = checks
        .range(
            "priority",
            body.priority,
            PRIORITY_MIN.into(),
            PRIORITY_MAX.into(),
        )
        .unwrap_or(0);
    let start = match (body.delay_ms, body.run_at) {
        (Some(_), Some(_)) => {
            checks.fail("run_at", "give delay_ms or run_at, not both");
            Start::Now
        }
        (delay @ Some(_), None) => checks
            .range("delay_ms", delay, 0, DELAY_MS_MAX as i64)
            .map_or(Start::Now, Start::AfterMs),
        (None, Some(text)) => match parse_rfc3339_ms(&text) {
            Some(ms) if (0..=RUN_AT_MAX_MS).contains(&ms) => Start::AtMs(ms),
            _ => {
                checks.fail("run_at", "must be an RFC 3339 time between 1970 and 2286");
                Start::Now
            }
        },
        (None, None) => Start::Now,
    };
    let max_attempts = checks.range(
        "max_attempts",
        body.max_attempts,
        1,
        MAX_ATTEMPTS_MAX.into(),
    );
    let lease_ms = checks.range("lease_ms", body.lease_ms, lease_min(), lease_max());
    checks.finish()?;
    let payload = compact_json(
        "payload",
        &payload.unwrap_or_default(),
        state.max_payload_bytes,
    )?;

    let task = NewTask {
        payload,
        priority,
        start,
        max_attempts,
        lease_ms,
    };
    let task = state.store.submit(&queue, task).await?;
    let location = format!("/v1/queues/{}/tasks/{}", task.queue, task.id);
    let location = HeaderValue::try_from(location)
        .map_err(|e| ApiError::Internal(format!("location header: {e}")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(task),
    )
        .into_response())
}

/// Get a task
///
/// Returns the task's state, attempts, payload, result and error history.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/tasks/{id}",
    tag = "tasks",
    params(TaskParams),
    responses((status = 200, description = "The task", body = Task), ReadErrors)
)]
pub async fn get_task(
    State(state): State<AppState>,
    path: TaskPath,
) -> Result<Json<Task>, ApiError> {
    match state.store.get(&path.queue, path.id).await? {
        Some(task) => Ok(Json(task)),
        None => Err(not_found(&path)),
    }
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
    let lease_ms = checks.range("lease_ms", body.lease_ms, lease_min(), lease_max());
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
        HeartbeatOutcome::NotFound => Err(not_found(&path)),
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
    responses((status = 200, description = "The task is completed", body = Task), WorkerErrors)
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
        (status = 200, description = "The failure was recorded; the task is `scheduled` for a retry or `dead`", body = Task),
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
    if value
        .as_ref()
        .is_some_and(|v| v.is_empty() || v.len() > 128)
    {
        checks.fail("lease_id", "must be 1-128 characters");
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
        FinishOutcome::NotFound => Err(not_found(path)),
    }
}

fn not_found(path: &TaskPath) -> ApiError {
    ApiError::NotFound(format!("no task {} in queue {}", path.id, path.queue))
}

pub(super) fn lease_min() -> i64 {
    LEASE_MS_MIN as i64
}

pub(super) fn lease_max() -> i64 {
    LEASE_MS_MAX as i64
}
