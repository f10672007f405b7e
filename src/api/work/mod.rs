//! A worker's calls about a leased task: heartbeat, ack and fail. Every one is fenced by its
//! `lease_id`; the store decides whether that lease is still live, and these handlers only map
//! its answer.

pub(super) mod acks;
pub(super) mod lease;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, Fields, RequestBody, check_size};
use crate::http::extract::{Durability, TaskParams, TaskPath};
use crate::http::problem::ApiError;
use crate::http::responses::replayed;
use crate::http::responses::{AckErrors, FailErrors, HeartbeatErrors};
use crate::http::state::AppState;
use crate::model::{DELAY_MS_MAX, LEASE_ID_MAX, LEASE_MS_MAX, LEASE_MS_MIN, Task};
use crate::store::dispatch::{Failure, FinishOutcome, HeartbeatOutcome};

/// Body of a heartbeat.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::model::examples::heartbeat_request)]
pub struct HeartbeatTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(min_length = 1, max_length = 128)]
    lease_id: String,
    /// New lease length from now (1000 to 86400000 ms); default the lease's own length.
    #[schema(minimum = 1000, maximum = 86_400_000)]
    lease_ms: Option<i64>,
}

/// A checked heartbeat.
pub struct HeartbeatCall {
    lease_id: String,
    lease_ms: Option<u64>,
}

impl RequestBody for HeartbeatTaskRequest {
    type Checked = HeartbeatCall;

    fn read(f: &mut Fields<'_>) -> HeartbeatCall {
        HeartbeatCall {
            lease_id: lease_id(f),
            lease_ms: lease_ms(f),
        }
    }
}

/// Answer to a heartbeat.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::heartbeat_response)]
pub struct HeartbeatResponse {
    /// New end of the lease (RFC 3339, Redis clock).
    expires_at: String,
    /// Milliseconds until `expires_at`, measured by Redis.
    expires_in_ms: u64,
}

/// Body of an ack.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::model::examples::ack_request)]
pub struct AckTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(min_length = 1, max_length = 128)]
    lease_id: String,
    /// Any JSON value to keep with the task, stored and returned exactly as sent; at most
    /// `max_payload_bytes` of JSON text, and at most 64 levels of arrays and objects deep (the
    /// server's `TASKGATE_MAX_JSON_DEPTH`).
    #[schema(value_type = Option<serde_json::Value>)]
    result: Option<serde_json::Value>,
}

/// A checked ack.
pub struct AckCall {
    lease_id: String,
    result: Option<Box<RawValue>>,
}

impl RequestBody for AckTaskRequest {
    type Checked = AckCall;

    fn read(f: &mut Fields<'_>) -> AckCall {
        AckCall {
            lease_id: lease_id(f),
            result: f.raw("result").map(RawValue::to_owned),
        }
    }
}

/// Body of a fail.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::model::examples::fail_request)]
pub struct FailTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(min_length = 1, max_length = 128)]
    lease_id: String,
    /// What went wrong. Kept in the task's error history, cut to 4096 bytes.
    error: String,
    /// Retry while attempts remain (default true); false sends the task to `dead` at once.
    #[schema(default = true)]
    retry: Option<bool>,
    /// Retry after this many ms instead of the backoff (capped at `backoff.max_ms`).
    #[schema(minimum = 0, maximum = 31_536_000_000_i64)]
    retry_in_ms: Option<i64>,
}

/// A checked fail.
pub struct FailCall {
    lease_id: String,
    failure: Failure,
}

impl RequestBody for FailTaskRequest {
    type Checked = FailCall;

    fn read(f: &mut Fields<'_>) -> FailCall {
        let lease_id = lease_id(f);
        let error = f.any_text("error");
        FailCall {
            lease_id,
            failure: Failure {
                error: f.required("error", error).unwrap_or_default(),
                retry: f.boolean("retry").unwrap_or(true),
                retry_in_ms: f.int("retry_in_ms", 0, DELAY_MS_MAX as i64),
            },
        }
    }
}

/// A lease id must be present and plausible; whether it is the live lease is the store's call.
pub(super) fn lease_id(f: &mut Fields<'_>) -> String {
    let value = f.text("lease_id", 1, LEASE_ID_MAX);
    f.required("lease_id", value).unwrap_or_default()
}

fn lease_ms(f: &mut Fields<'_>) -> Option<u64> {
    f.int("lease_ms", LEASE_MS_MIN as i64, LEASE_MS_MAX as i64)
}

/// Extend a lease
///
/// Keeps a leased task yours for `lease_ms` more (default: the lease's own length), counted
/// from now. `409 lease-lost` means the lease is gone (expired, re-leased or finished): stop
/// working on the task, your result would not be recorded.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/heartbeat",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    params(TaskParams),
    request_body(content = HeartbeatTaskRequest, example = json!(crate::model::examples::heartbeat_request())),
    responses(
        (status = 200, description = "The lease was extended", body = HeartbeatResponse),
        HeartbeatErrors,
    )
)]
pub async fn heartbeat_task(
    _caller: Caller,
    State(state): State<AppState>,
    path: TaskPath,
    Body(call): Body<HeartbeatTaskRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    match state
        .store
        .dispatch
        .heartbeat(&path.queue, path.id, &call.lease_id, call.lease_ms)
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
/// Acknowledges a leased task as done, with an optional JSON `result`. Retrying is safe: a
/// lease that completed the task can repeat its ack at any time and gets `200` with the task as
/// it is now (and header `Idempotent-Replayed: true`); nothing changes and the first result is
/// kept.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/ack",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    params(TaskParams,
        ("Taskgate-Durability" = Option<String>, Header,
            description = "`replicated`: answer only once the completion is also on the configured number of Redis replicas (`WAIT`); `503` if they do not confirm in time")),
    request_body(content = AckTaskRequest, example = json!(crate::model::examples::ack_request())),
    responses(
        (status = 200, description = "The task is completed", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when this repeats an ack that already applied"))),
        AckErrors,
    )
)]
pub async fn ack_task(
    _caller: Caller,
    State(state): State<AppState>,
    path: TaskPath,
    durability: Durability,
    Body(call): Body<AckTaskRequest>,
) -> Result<Response, ApiError> {
    if let Some(result) = &call.result {
        check_size("result", result, state.limits.max_payload_bytes)?;
    }
    let (outcome, confirmed) = state
        .store
        .dispatch
        .ack_replicated(
            &path.queue,
            path.id,
            &call.lease_id,
            call.result.as_deref(),
            durability.0,
        )
        .await?;
    // The outcome first: a lost lease, an unknown task or a result too large changed nothing,
    // so there is nothing whose replication could be in doubt.
    let mut response = finish_response(outcome, &path)?;
    let replicas = durability.check(confirmed, &format!("the ack of task {}", path.id))?;
    response.headers_mut().extend(replicas);
    Ok(response)
}

/// Fail a task
///
/// Reports a failed attempt. With `retry` (the default) the task is tried again after its
/// backoff, or `retry_in_ms`, while attempts remain; otherwise it goes to `dead`. Retrying is
/// safe: a lease that failed an attempt can repeat its fail, even after the task was leased
/// again, and gets `200` with the task as it is now (and `Idempotent-Replayed: true`) without
/// using another attempt, for as long as the task's error history (its last 10 failed
/// attempts) remembers that lease.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks/{id}/fail",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    params(TaskParams),
    request_body(content = FailTaskRequest, example = json!(crate::model::examples::fail_request())),
    responses(
        (status = 200, description = "The failure was recorded; the task is `scheduled` for a retry or `dead`", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when this repeats a fail that already applied"))),
        FailErrors,
    )
)]
pub async fn fail_task(
    _caller: Caller,
    State(state): State<AppState>,
    path: TaskPath,
    Body(call): Body<FailTaskRequest>,
) -> Result<Response, ApiError> {
    let outcome = state
        .store
        .dispatch
        .fail(&path.queue, path.id, &call.lease_id, call.failure)
        .await?;
    finish_response(outcome, &path)
}

fn finish_response(outcome: FinishOutcome, path: &TaskPath) -> Result<Response, ApiError> {
    match finished(outcome, path)? {
        (task, false) => Ok(Json(task).into_response()),
        (task, true) => Ok(replayed(Json(task))),
    }
}

/// What an ack or fail came to: the task and whether the call was a replay, or the problem.
pub(super) fn finished(outcome: FinishOutcome, path: &TaskPath) -> Result<(Task, bool), ApiError> {
    match outcome {
        FinishOutcome::Done(task) => Ok((task, false)),
        FinishOutcome::Replayed(task) => Ok((task, true)),
        FinishOutcome::LeaseLost => Err(ApiError::LeaseLost),
        FinishOutcome::NotFound => Err(path.not_found()),
        FinishOutcome::TooLarge { limit } => Err(ApiError::PayloadTooLarge(format!(
            "the result is larger than queue {}'s max_payload_bytes ({limit})",
            path.queue
        ))),
    }
}
