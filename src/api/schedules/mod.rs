//! A queue's recurring schedules as a REST resource (README, "Schedules"): page through them,
//! read one (its next and last runs), create or replace it, merge into it (JSON merge patch),
//! delete it, and trigger it once now. Writes carry the schedule's version as an `ETag` and
//! honour `If-Match` and `If-None-Match`, as the queue policy does.

mod body;
mod view;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;

use crate::http::conditions::{Conditions, Subject, etag};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, read};
use crate::http::extract::{
    Page, PageParams, QueueParams, QueuePath, ScheduleParams, SchedulePath, TriggerPath,
};
use crate::http::merge_patch::{MergePatch, merge};
use crate::http::problem::ApiError;
use crate::http::responses::{
    ScheduleDeleteErrors, ScheduleListErrors, ScheduleReadErrors, ScheduleTriggerErrors,
    ScheduleWriteErrors,
};
use crate::http::state::BodyLimits;
use crate::model::schedule::{SCHEDULES_MAX, ScheduleDef, ScheduleName};
use crate::model::{QueueName, Task};
use crate::store::schedules::{
    DeleteOutcome, ScheduleRecord, ScheduleState, Schedules, Stored, TriggerOutcome, WriteOutcome,
};
use body::{SchedulePatch, ScheduleRequest};
use view::{READ_ONLY, SchedulePageView, ScheduleView};

/// How often a write re-reads a schedule that another write changed under it (with no
/// precondition of its own, the last write wins, as a `PUT` of the policy does).
const WRITE_ATTEMPTS: usize = 5;

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

/// Create or replace a schedule
///
/// The schedule runs at each tick of `cron` (in `timezone`) or every `every_ms`, submitting
/// `task` to the queue: exactly one task per tick, however many instances run. A replaced
/// schedule runs next at its first tick from now. Creates the queue. `201` when it is new.
/// With `If-Match`, applies only if the schedule is at one of those versions (else `412`); with
/// `If-None-Match: *`, only if it does not exist yet.
#[utoipa::path(
    put,
    path = "/v1/queues/{queue}/schedules/{name}",
    security(("bearer" = ["admin"])),
    tag = "schedules",
    params(
        ScheduleParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH),
    ),
    request_body(content = ScheduleRequest, examples(
        ("hourly" = (summary = "Every hour, caught up by one run after an outage", value = json!(crate::model::examples::schedule_every_request()))),
        ("nightly" = (summary = "At 02:30 Berlin time every night", value = json!(crate::model::examples::schedule_request()))),
    )),
    responses(
        (status = 200, description = "The schedule, replaced", body = ScheduleView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 201, description = "The schedule, created", body = ScheduleView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        ScheduleWriteErrors,
    )
)]
pub async fn put_schedule(
    caller: Caller,
    State(schedules): State<Schedules>,
    SchedulePath { queue, name }: SchedulePath,
    headers: HeaderMap,
    Body(request): Body<ScheduleRequest>,
) -> Result<Response, ApiError> {
    let def = request.into_def();
    write(&caller, &schedules, &queue, &name, &headers, |_| {
        Ok(def.clone())
    })
    .await
}

/// Change some of a schedule
///
/// A JSON merge patch (RFC 7396; `application/merge-patch+json` or `application/json`) over the
/// schedule's definition as a `GET` shows it: the fields given are set, a field given as `null`
/// is removed (to go from `cron` to `every_ms`, send `{"cron": null, "every_ms": 60000}`). The
/// result is checked as a `PUT` body is. With `If-Match`, applies only at those versions.
#[utoipa::path(
    patch,
    path = "/v1/queues/{queue}/schedules/{name}",
    security(("bearer" = ["admin"])),
    tag = "schedules",
    params(
        ScheduleParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    request_body(content = SchedulePatch, content_type = "application/merge-patch+json", example = json!({"paused": true})),
    responses(
        (status = 200, description = "The schedule now", body = ScheduleView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        ScheduleWriteErrors,
    )
)]
pub async fn patch_schedule(
    caller: Caller,
    State(schedules): State<Schedules>,
    State(limits): State<BodyLimits>,
    SchedulePath { queue, name }: SchedulePath,
    headers: HeaderMap,
    Body(MergePatch { text: patch, .. }): Body<MergePatch<SchedulePatch>>,
) -> Result<Response, ApiError> {
    let change = |current: Option<&ScheduleState>| {
        let current = current.ok_or_else(|| not_found(&queue, &name))?;
        let merged = merge(Some(&definition(&queue, current)?), &patch)?;
        let request: ScheduleRequest = read(merged.get().as_bytes(), &limits)?;
        Ok(request.into_def())
    };
    write(&caller, &schedules, &queue, &name, &headers, change).await
}

/// A schedule's definition as a `GET` shows it (its view less the read-only fields), as text.
fn definition(queue: &QueueName, state: &ScheduleState) -> Result<Box<RawValue>, ApiError> {
    let internal = |e: serde_json::Error| ApiError::Internal(e.to_string());
    let view = serde_json::value::to_raw_value(&ScheduleView::of(queue.as_str(), state, 0))
        .map_err(internal)?;
    let mut members: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(view.get()).map_err(internal)?;
    members.retain(|name, _| !READ_ONLY.contains(&name.as_str()));
    serde_json::value::to_raw_value(&members).map_err(internal)
}

/// Writes a schedule: reads it (for its version, and for `change` to start from), checks the
/// preconditions, and writes `change`'s result at the version read; when another write came in
/// between, reads again.
async fn write(
    caller: &Caller,
    schedules: &Schedules,
    queue: &QueueName,
    name: &ScheduleName,
    headers: &HeaderMap,
    change: impl Fn(Option<&ScheduleState>) -> Result<ScheduleDef, ApiError>,
) -> Result<Response, ApiError> {
    let conditions = Conditions::read(headers);
    for _ in 0..WRITE_ATTEMPTS {
        let read = schedules.read(queue, name).await?;
        let version = read.schedule.as_ref().map_or(0, Stored::version);
        if !conditions.hold_at(version) {
            return Ok(conditions.refused(&subject(queue, name), version));
        }
        let current = match &read.schedule {
            Some(Stored::Readable(state)) => Some(state.as_ref()),
            _ => None,
        };
        let def = change(current)?;
        let now = read.now_ms;
        let record = ScheduleRecord {
            // An every_ms schedule keeps counting from where it did while its cadence stays.
            anchor_ms: match current {
                Some(c) if same_cadence(&c.record.def, &def) => c.record.anchor_ms,
                _ => now,
            },
            created_at: current.map_or(now, |c| c.record.created_at),
            updated_at: now,
            updated_by: caller.name().map(str::to_owned),
            def,
        };
        match schedules
            .write(queue, name, Some(version), &record, current, now)
            .await?
        {
            WriteOutcome::Written { version: written } => {
                let state = ScheduleState {
                    name: name.clone(),
                    version: written,
                    stored_bytes: 0,
                    next_due: record.next_after(now),
                    runs: current.map(|c| c.runs.clone()).unwrap_or_default(),
                    record,
                };
                let status = if version == 0 {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                return Ok(schedule_response(status, queue, &state, now));
            }
            WriteOutcome::Full { limit } => {
                return Err(ApiError::Conflict(format!(
                    "queue {queue} holds {limit} schedules, the most a queue may hold \
                     ({SCHEDULES_MAX}): delete one first"
                )));
            }
            // Written by someone else since the read: decide again on what is there now.
            WriteOutcome::Stale { .. } => {}
        }
    }
    Err(ApiError::Conflict(format!(
        "schedule {name} of queue {queue} kept changing while this write was applied: try again"
    )))
}

/// Whether two definitions tick alike (so an `every_ms` schedule keeps its count).
fn same_cadence(a: &ScheduleDef, b: &ScheduleDef) -> bool {
    a.cron == b.cron
        && a.timezone == b.timezone
        && a.every_ms == b.every_ms
        && a.start_at == b.start_at
}

/// Delete a schedule
///
/// No tick runs after it (a sweep that already read the schedule finds it gone). Tasks it
/// submitted stay. With `If-Match`, only at those versions.
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/schedules/{name}",
    security(("bearer" = ["admin"])),
    tag = "schedules",
    params(
        ScheduleParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
    ),
    responses(
        (status = 204, description = "Deleted"),
        ScheduleDeleteErrors,
    )
)]
pub async fn delete_schedule(
    _caller: Caller,
    State(schedules): State<Schedules>,
    SchedulePath { queue, name }: SchedulePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let conditions = Conditions::read(&headers);
    let subject = subject(&queue, &name);
    let current = async {
        let read = schedules.read(&queue, &name).await?;
        Ok(read.schedule.as_ref().map_or(0, Stored::version))
    };
    let expected = match conditions.version_to_expect(&subject, current).await? {
        Ok(expected) => expected,
        Err(refused) => return Ok(refused),
    };
    match schedules.delete(&queue, &name, expected).await? {
        DeleteOutcome::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        DeleteOutcome::NotFound => Err(not_found(&queue, &name)),
        DeleteOutcome::Stale { version } => Ok(conditions.refused(&subject, version)),
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
