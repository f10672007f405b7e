//! Task endpoints for producers: submit a task and read it back.
//!
//! Handlers check input, call one store operation and map its outcome to a response; they build
//! no Redis keys and hold no state.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::extract::{
    ApiJson, Checks, QueueParams, QueuePath, TaskParams, TaskPath, compact_json, integer, present,
};
use super::responses::{BodyErrors, ReadErrors};
use crate::error::ApiError;
use crate::model::{
    DELAY_MS_MAX, MAX_ATTEMPTS_MAX, PRIORITY_MAX, PRIORITY_MIN, Task, parse_rfc3339_ms,
};
use crate::store::{NewTask, Start};

/// Latest accepted `run_at` (ms): 2286-11-20, where epoch milliseconds reach 14 digits.
const RUN_AT_MAX_MS: i64 = 9_999_999_999_999;

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
    #[serde(default, deserialize_with = "integer")]
    priority: Option<i64>,
    /// Wait this long (0 to 31536000000 ms) before the task is ready. Not with `run_at`.
    #[schema(minimum = 0, maximum = 31_536_000_000_i64)]
    #[serde(default, deserialize_with = "integer")]
    delay_ms: Option<i64>,
    /// RFC 3339 time at which the task becomes ready; a past time means now. Not with `delay_ms`.
    #[schema(example = "2026-11-25T18:00:00Z")]
    run_at: Option<String>,
    /// Attempts allowed for this task (1 to 1000); default the queue policy's.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "integer")]
    max_attempts: Option<i64>,
    /// Lease length for this task (1000 to 86400000 ms) when the worker asks for none.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    #[serde(default, deserialize_with = "integer")]
    lease_ms: Option<i64>,
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
    let lease_ms = checks.lease_ms("lease_ms", body.lease_ms);
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
        None => Err(path.not_found()),
    }
}
