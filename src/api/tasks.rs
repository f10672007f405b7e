//! Task endpoints for producers: submit a task and read it back.
//!
//! Handlers check input, call one store operation and map its outcome to a response; they build
//! no Redis keys and hold no state.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::body::{Body, Fields, RequestBody, check_size};
use super::extract::{QueueParams, QueuePath, TaskParams, TaskPath};
use super::responses::{CancelErrors, ReadErrors, SubmitErrors};
use super::{AppState, replayed};
use crate::error::ApiError;
use crate::model::{
    DELAY_MS_MAX, LEASE_MS_MAX, LEASE_MS_MIN, MAX_ATTEMPTS_MAX, PRIORITY_MAX, PRIORITY_MIN, Task,
    parse_rfc3339_ms,
};
use crate::store::{CancelOutcome, GetOutcome, NewTask, Start, SubmitOutcome};

/// Latest accepted `run_at` (ms): 2286-11-20, where epoch milliseconds reach 14 digits.
const RUN_AT_MAX_MS: i64 = 9_999_999_999_999;

/// Body of a submit.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::examples::submit_request)]
pub struct SubmitTaskRequest {
    /// Any JSON value (`null` included), stored and returned exactly as sent (key order, number
    /// precision and all); at most the policy's `max_payload_bytes` of JSON text.
    payload: serde_json::Value,
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

impl RequestBody for SubmitTaskRequest {
    type Checked = NewTask;

    fn read(f: &mut Fields<'_>) -> NewTask {
        let payload = f.raw("payload");
        let payload = f.required("payload", payload);
        let priority = f
            .int("priority", PRIORITY_MIN.into(), PRIORITY_MAX.into())
            .unwrap_or(0);
        let delay = f.int("delay_ms", 0, DELAY_MS_MAX as i64);
        let run_at = f.text("run_at", 1, 64);
        let start = match (delay, run_at) {
            (Some(_), Some(_)) => {
                f.fail("run_at", "give delay_ms or run_at, not both");
                Start::Now
            }
            (Some(ms), None) => Start::AfterMs(ms),
            (None, Some(text)) => match parse_rfc3339_ms(&text) {
                Some(ms) if (0..=RUN_AT_MAX_MS).contains(&ms) => Start::AtMs(ms),
                _ => {
                    f.fail("run_at", "must be an RFC 3339 time between 1970 and 2286");
                    Start::Now
                }
            },
            (None, None) => Start::Now,
        };
        NewTask {
            payload: payload.map_or_else(null, RawValue::to_owned),
            priority,
            start,
            max_attempts: f.int("max_attempts", 1, MAX_ATTEMPTS_MAX.into()),
            lease_ms: f.int("lease_ms", LEASE_MS_MIN as i64, LEASE_MS_MAX as i64),
        }
    }
}

/// A JSON `null`, as a placeholder.
fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
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
    request_body(
        content = SubmitTaskRequest,
        example = json!(crate::examples::submit_request())
    ),
    responses(
        (status = 201, description = "The task was stored", body = Task,
            headers(("Location" = String, description = "Path of the new task"))),
        SubmitErrors,
    )
)]
pub async fn submit_task(
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    Body(task): Body<SubmitTaskRequest>,
) -> Result<Response, ApiError> {
    check_size("payload", &task.payload, state.max_payload_bytes)?;
    let size = task.payload.get().len();
    let task = match state.store.submit(&queue, task).await? {
        SubmitOutcome::Created(task) => task,
        SubmitOutcome::TooLarge { limit } => {
            return Err(ApiError::PayloadTooLarge(format!(
                "payload is {size} bytes of JSON; queue {queue} accepts at most {limit} \
                 (its policy's max_payload_bytes)"
            )));
        }
    };
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
/// Returns the task's state, attempts, payload, result and error history, as of now by the
/// Redis clock: a lease whose deadline has passed, or a schedule that is due, is settled first.
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
        GetOutcome::Found(task) => Ok(Json(*task)),
        GetOutcome::NotFound => Err(path.not_found()),
        GetOutcome::Quarantined => Err(path.quarantined()),
    }
}

/// Cancel a task
///
/// Cancels a scheduled, ready or leased task: it will not run (again). A leased task's lease
/// ends at once, so its worker's next heartbeat, ack or fail is `409 lease-lost`. Cancelling an
/// already cancelled task answers `200` with it as it is (`Idempotent-Replayed: true`); a
/// completed or dead task cannot be cancelled (`409 conflict`). Cancelled tasks are kept like
/// completed ones, then purged.
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/tasks/{id}",
    tag = "tasks",
    params(TaskParams),
    responses(
        (status = 200, description = "The task, now cancelled", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when it was already cancelled"))),
        CancelErrors,
    )
)]
pub async fn cancel_task(
    State(state): State<AppState>,
    path: TaskPath,
) -> Result<Response, ApiError> {
    match state.store.cancel(&path.queue, path.id).await? {
        CancelOutcome::Cancelled(task) => Ok(Json(*task).into_response()),
        CancelOutcome::AlreadyCancelled(task) => Ok(replayed(Json(*task))),
        CancelOutcome::Finished(task) => Err(ApiError::Conflict(format!(
            "task {} is {}: there is nothing to cancel",
            task.id,
            serde_json::to_value(task.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ))),
        CancelOutcome::NotFound => Err(path.not_found()),
    }
}
