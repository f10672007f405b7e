//! A worker's calls about a leased task: heartbeat, ack and fail. Every one is fenced by its
//! `lease_id`; the store decides whether that lease is still live, and these handlers only map
//! its answer.

pub(super) mod acks;
pub(super) mod lease;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::{
    AnyText, DelayMs, Flag, Int, JsonText, LeaseId, LeaseMs, present,
};
use crate::http::extract::body::{Body, Check, check_size};
use crate::http::extract::{Durability, TaskParams, TaskPath};
use crate::http::problem::ApiError;
use crate::http::responses::replayed;
use crate::http::responses::{AckErrors, FailErrors, HeartbeatErrors};
use crate::http::state::BodyLimits;
use crate::model::{PROGRESS_BYTES_MAX, Task};
use crate::store::dispatch::Dispatch;
use crate::store::dispatch::{Failure, FinishOutcome, HeartbeatOutcome};

/// Body of a heartbeat.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::heartbeat_request)]
pub struct HeartbeatTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(inline)]
    lease_id: LeaseId,
    /// New lease length from now (1000 to 86400000 ms); default the lease's own length.
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    /// How far the work has got: any JSON value (`{"done": 40, "of": 100}`), at most 4096
    /// bytes of JSON text. Kept on the task as the current attempt's `progress` (shown by GET,
    /// replacing the previous report) and sent to the task's event streams as a `progress`
    /// event.
    #[serde(default, deserialize_with = "present")]
    #[schema(inline)]
    progress: Option<JsonText>,
}

impl Check for HeartbeatTaskRequest {
    const DEEP: &'static [&'static str] = &["progress"];
}

/// Answer to a heartbeat.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::heartbeat_response)]
pub struct HeartbeatResponse {
    /// New end of the lease (RFC 3339, Redis clock).
    expires_at: String,
    /// Milliseconds until `expires_at`, measured by Redis.
    expires_in_ms: u64,
    /// `true` when the heartbeat's `progress` was not stored because Redis is full (the lease
    /// was extended all the same): send the report again later. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    progress_dropped: bool,
}

/// Body of an ack.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::ack_request)]
pub struct AckTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(inline)]
    lease_id: LeaseId,
    /// Any JSON value to keep with the task, stored and returned exactly as sent; at most
    /// `max_payload_bytes` of JSON text, and at most 64 levels of arrays and objects deep (the
    /// server's `TASKGATE_MAX_JSON_DEPTH`).
    #[serde(default, deserialize_with = "present")]
    #[schema(inline)]
    result: Option<JsonText>,
}

impl Check for AckTaskRequest {
    const DEEP: &'static [&'static str] = &["result"];
}

/// Body of a fail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::fail_request)]
pub struct FailTaskRequest {
    /// The `lease_id` from the lease.
    #[schema(inline)]
    lease_id: LeaseId,
    /// What went wrong. Kept in the task's error history, cut to 4096 bytes.
    #[schema(inline)]
    error: AnyText,
    /// Retry while attempts remain (default true); false sends the task to `dead` at once.
    #[schema(inline, default = true)]
    retry: Option<Flag>,
    /// Retry after this many ms instead of the backoff (capped at `backoff.max_ms`).
    #[schema(inline)]
    retry_in_ms: Option<DelayMs>,
}

impl Check for FailTaskRequest {}

impl FailTaskRequest {
    fn failure(self) -> Failure {
        Failure {
            error: self.error.0,
            retry: self.retry.is_none_or(|retry| retry.0),
            retry_in_ms: self.retry_in_ms.map(Int::get),
        }
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
    State(dispatch): State<Dispatch>,
    path: TaskPath,
    Body(call): Body<HeartbeatTaskRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    if let Some(progress) = &call.progress {
        check_size("progress", &progress.0, PROGRESS_BYTES_MAX as u64)?;
    }
    match dispatch
        .heartbeat(
            &path.queue,
            path.id,
            &call.lease_id.0,
            call.lease_ms.map(Int::get),
            call.progress.as_ref().map(|p| &*p.0),
        )
        .await?
    {
        HeartbeatOutcome::Extended {
            expires_at,
            expires_in_ms,
            progress_dropped,
        } => Ok(Json(HeartbeatResponse {
            expires_at,
            expires_in_ms,
            progress_dropped,
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
    State(dispatch): State<Dispatch>,
    State(limits): State<BodyLimits>,
    path: TaskPath,
    durability: Durability,
    Body(call): Body<AckTaskRequest>,
) -> Result<Response, ApiError> {
    let result = call.result.map(|result| result.0);
    if let Some(result) = &result {
        check_size("result", result, limits.max_payload_bytes)?;
    }
    let (outcome, confirmed) = dispatch
        .ack_replicated(
            &path.queue,
            path.id,
            &call.lease_id.0,
            result.as_deref(),
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
    State(dispatch): State<Dispatch>,
    path: TaskPath,
    Body(call): Body<FailTaskRequest>,
) -> Result<Response, ApiError> {
    let lease_id = call.lease_id.0.clone();
    let failure = call.failure();
    let outcome = dispatch
        .fail(&path.queue, path.id, &lease_id, failure)
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
