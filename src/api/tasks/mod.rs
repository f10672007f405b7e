//! A task, for producers: read it (now, or once it is finished), ask why it waits, and cancel
//! it. Submitting is in
//! `submit.rs`, its event stream in `events.rs`.
//!
//! Handlers check input, call one store operation and map its outcome to a response; they build
//! no Redis keys and hold no state.

pub(super) mod batch;
mod debounce;
mod depends;
pub(super) mod list;
pub(super) mod submit;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::http::extract::auth::Caller;
use crate::http::extract::{ResultWait, ResultWaitParams, TaskParams, TaskPath};
use crate::http::limits::Slot;
use crate::http::problem::ApiError;
use crate::http::responses::replayed;
use crate::http::responses::{CancelErrors, ReadErrors};
use crate::http::state::Shutdown;
use crate::model::{Explanation, Task};
use crate::store::tasks::Tasks;
use crate::store::tasks::{CancelOutcome, ExplainOutcome, GetOutcome};
use crate::store::waiting::Waiting;

/// Get a task
///
/// Returns the task's state, attempts, payload, result and error history, as of now by the
/// Redis clock: a lease whose deadline has passed, or a schedule that is due, is settled first.
/// With `wait_ms`, waits (without polling) until the task is finished — completed, dead or
/// cancelled — and answers at once when it is: how a web page awaits a result.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/tasks/{id}",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "tasks",
    params(TaskParams, ResultWaitParams),
    responses((status = 200, description = "The task", body = Task), ReadErrors)
)]
pub async fn get_task(
    _caller: Caller,
    State(waiting): State<Waiting>,
    State(shutdown): State<Shutdown>,
    path: TaskPath,
    ResultWait(wait): ResultWait,
    slot: Slot,
) -> Result<Json<Task>, ApiError> {
    let _waiting = slot.wait_for(wait)?;
    let outcome = waiting
        .get_waiting(&path.queue, path.id, wait, &shutdown.0)
        .await?;
    match outcome {
        GetOutcome::Found(task) => Ok(Json(*task)),
        GetOutcome::NotFound => Err(path.not_found()),
        GetOutcome::Quarantined => Err(path.quarantined()),
    }
}

/// Explain a task
///
/// Why the task is where it is, read in one atomic step that changes nothing: for a task
/// waiting to be leased, every cause that holds it now (`scheduled`, `start_deadline_passed`,
/// `queue_paused`, `queue_max_in_flight`, `queue_rate_limited`, `group_paused`,
/// `group_max_in_flight`, `ordered_group_busy`, `group_rate_limited`), how many tasks will be leased before it
/// (`behind`: exact where one index orders them, else a lower bound that says so), whether a
/// worker with the labels it `requires` has asked lately (`no_matching_worker`), and whether
/// any worker has asked the queue for tasks within its `workers_window_ms` (`no_workers`);
/// `runnable_now` is true only when it is certain the next lease call takes it. For a leased task, who holds
/// it and until when (`leased`); for a finished one, how it ended (`completed`, `dead` with
/// the last error, `cancelled`). The codes are stable; the messages are for people.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/tasks/{id}/explain",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "tasks",
    params(TaskParams),
    responses((status = 200, description = "Why the task is where it is", body = Explanation), ReadErrors)
)]
pub async fn explain_task(
    _caller: Caller,
    State(tasks): State<Tasks>,
    path: TaskPath,
) -> Result<Json<Explanation>, ApiError> {
    match tasks.explain(&path.queue, path.id).await? {
        ExplainOutcome::Found(explanation) => Ok(Json(explanation)),
        ExplainOutcome::NotFound => Err(path.not_found()),
        ExplainOutcome::Quarantined => Err(path.quarantined()),
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
    security(("bearer" = ["producer", "admin"])),
    tag = "tasks",
    params(TaskParams),
    responses(
        (status = 200, description = "The task, now cancelled", body = Task,
            headers(("Idempotent-Replayed" = String, description = "`true` when it was already cancelled"))),
        CancelErrors,
    )
)]
pub async fn cancel_task(
    _caller: Caller,
    State(tasks): State<Tasks>,
    path: TaskPath,
) -> Result<Response, ApiError> {
    match tasks.cancel(&path.queue, path.id).await? {
        CancelOutcome::Cancelled(task) => Ok(Json(*task).into_response()),
        CancelOutcome::AlreadyCancelled(task) => Ok(replayed(Json(*task))),
        CancelOutcome::Finished(task) => Err(ApiError::Conflict(format!(
            "task {} is {}: there is nothing to cancel",
            task.id,
            task.state.name()
        ))),
        CancelOutcome::NotFound => Err(path.not_found()),
    }
}
