//! A queue's recurring schedules as a REST resource (README, "Schedules"): page through them,
//! read one (its next and last runs), create or replace it, merge into it (JSON merge patch),
//! delete it, and trigger it once now. Writes carry the schedule's version as an `ETag` and
//! honour `If-Match` and `If-None-Match`, as the queue policy does.

mod body;
mod view;
mod write;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::conditions::{Subject, etag};
use crate::http::extract::auth::Caller;
use crate::http::extract::{
    Page, PageParams, QueueParams, QueuePath, ScheduleParams, SchedulePath, TriggerPath,
};
use crate::http::problem::ApiError;
use crate::http::responses::{ScheduleListErrors, ScheduleReadErrors, ScheduleTriggerErrors};
use crate::model::schedule::ScheduleName;
use crate::model::{QueueName, Task};
use crate::store::schedules::{ScheduleState, Schedules, Stored, TriggerOutcome};
use view::{SchedulePageView, ScheduleView};

pub use write::{__path_delete_schedule, __path_patch_schedule, __path_put_schedule};
pub use write::{delete_schedule, patch_schedule, put_schedule};

const IF_MATCH: &str = "Apply only if the schedule is at one of these versions (ETags from a read, comma-separated), else `412`. `*`: only if the schedule exists. Compared strongly.";
const IF_NONE_MATCH: &str = "`*`: apply only if the schedule does not exist yet, so a write creates one and never replaces one, else `412`. ETags: apply only if it is at none of these versions.";

fn subject(queue: &QueueName, name: &ScheduleName) -> Subject<'static> {
    Subject {
        owner: format!("schedule {name} of queue {queue}"),
        thing: "definition",
        some: "a definition",
    }
}

fn not_found(queue: &QueueName, name: &ScheduleName) -> ApiError {
    ApiError::NotFound(format!("no schedule {name} in queue {queue}"))
}

/// A schedule's view with its `ETag`.
fn schedule_response(
    status: StatusCode,
    queue: &QueueName,
    state: &ScheduleState,
    now_ms: i64,
) -> Response {
    let view = ScheduleView::of(queue.as_str(), state, now_ms);
    (status, [(header::ETAG, etag(state.version))], Json(view)).into_response()
}

/// List a queue's schedules
///
/// The queue's schedules by name, each with its definition, status and next runs (a read of
/// one schedule adds its last runs). Pages follow each other through `next_cursor`.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/schedules",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "schedules",
    params(QueueParams, PageParams),
    responses((status = 200, description = "One page of schedules", body = SchedulePageView), ScheduleListErrors)
)]
pub async fn list_schedules(
    _caller: Caller,
    State(schedules): State<Schedules>,
    QueuePath(queue): QueuePath,
    page: Page,
) -> Result<Json<SchedulePageView>, ApiError> {
    let after = page
        .cursor
        .as_deref()
        .map(ScheduleName::parse)
        .transpose()
        .map_err(|_| ApiError::field("cursor", "is not a cursor we gave"))?;
    let found = schedules.list(&queue, after.as_ref(), page.limit).await?;
    Ok(Json(SchedulePageView {
        schedules: found
            .schedules
            .iter()
            .map(|state| {
                let mut view = ScheduleView::of(queue.as_str(), state, found.now_ms);
                view.last_runs.clear();
                view
            })
            .collect(),
        next_cursor: found.next.map(|name| name.to_string()),
    }))
}

/// Get a schedule
///
/// Its definition, status, next runs (up to 5) and last runs (up to 10, with the state each
/// run's task is in now), and its version, also sent as `ETag`.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/schedules/{name}",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "schedules",
    params(ScheduleParams),
    responses(
        (status = 200, description = "The schedule", body = ScheduleView,
            headers(("ETag" = String, description = "The schedule's version, quoted"))),
        ScheduleReadErrors,
    )
)]
pub async fn get_schedule(
    _caller: Caller,
    State(schedules): State<Schedules>,
    SchedulePath { queue, name }: SchedulePath,
) -> Result<Response, ApiError> {
    let read = schedules.read(&queue, &name).await?;
    match read.schedule {
        None => Err(not_found(&queue, &name)),
        Some(Stored::Unreadable { why, .. }) => Err(ApiError::Internal(why)),
        Some(Stored::Readable(state)) => Ok(schedule_response(
            StatusCode::OK,
            &queue,
            &state,
            read.now_ms,
        )),
    }
}

/// Trigger a schedule
///
/// Runs the schedule once now, whether or not it is paused: its task is submitted as a tick's
/// is, and the run is listed in its `last_runs` as a `trigger`. Its ticks are unchanged. Each
/// call is a run of its own.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/schedules/{name}:trigger",
    security(("bearer" = ["producer", "admin"])),
    tag = "schedules",
    params(ScheduleParams),
    responses(
        (status = 201, description = "The task the run submitted", body = Task,
            headers(("Location" = String, description = "The task's URL"))),
        ScheduleTriggerErrors,
    )
)]
pub async fn trigger_schedule(
    _caller: Caller,
    State(schedules): State<Schedules>,
    TriggerPath(SchedulePath { queue, name }): TriggerPath,
) -> Result<Response, ApiError> {
    match schedules.trigger(&queue, &name).await? {
        TriggerOutcome::NotFound => Err(not_found(&queue, &name)),
        TriggerOutcome::Busy => Err(ApiError::Conflict(format!(
            "schedule {name} of queue {queue} kept changing while it was triggered: try again"
        ))),
        TriggerOutcome::Unreadable => Err(ApiError::Internal(format!(
            "the record of schedule {name} cannot be read: replace it with a PUT"
        ))),
        TriggerOutcome::Ran {
            outcome,
            payload_bytes,
        } => {
            let (task, _) = super::tasks::submit::submitted(&queue, payload_bytes, outcome)?;
            let location = format!("/v1/queues/{queue}/tasks/{}", task.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(task),
            )
                .into_response())
        }
    }
}
