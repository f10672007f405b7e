//! A schedule's writes: create or replace (`PUT`), merge into (`PATCH`), delete, each under
//! `If-Match` / `If-None-Match` as the policy's; a write reads the schedule first and applies
//! at the version it read, reading again when another write came in between.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;

use super::body::{SchedulePatch, ScheduleRequest};
use super::view::{READ_ONLY, ScheduleView};
use super::{IF_MATCH, IF_NONE_MATCH, not_found, schedule_response, subject};
use crate::http::conditions::Conditions;
use crate::http::extract::ScheduleParams;
use crate::http::extract::SchedulePath;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, read};
use crate::http::merge_patch::{MergePatch, merge};
use crate::http::problem::ApiError;
use crate::http::responses::{ScheduleDeleteErrors, ScheduleWriteErrors};
use crate::http::state::BodyLimits;
use crate::model::QueueName;
use crate::model::schedule::{SCHEDULES_MAX, ScheduleDef, ScheduleName};
use crate::store::schedules::{
    DeleteOutcome, ScheduleRecord, ScheduleState, Schedules, Stored, WriteOutcome,
};

/// How often a write re-reads a schedule that another write changed under it (with no
/// precondition of its own, the last write wins, as a `PUT` of the policy does).
const WRITE_ATTEMPTS: usize = 5;

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
            headers(("ETag" = String, description = "The new version, quoted"),
                ("Location" = String, description = "The schedule's URL"))),
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
    let change = |_: Option<&Stored>| Ok(def.clone());
    write(&caller, &schedules, &queue, &name, &headers, change).await
}

/// Change some of a schedule
///
/// A JSON merge patch (RFC 7396; `application/merge-patch+json` or `application/json`) over the
/// schedule's definition as a `GET` shows it: the fields given are set, a field given as `null`
/// is removed (to go from `cron` to `every_ms`, send `{"cron": null, "timezone": null,
/// "every_ms": 60000}`). The
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
    let change = |stored: Option<&Stored>| {
        let current = match stored {
            Some(Stored::Readable(state)) => state,
            Some(Stored::Unreadable { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "the record of schedule {name} cannot be read, so it cannot be patched: \
                     replace it with a PUT"
                )));
            }
            None => return Err(not_found(&queue, &name)),
        };
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
    change: impl Fn(Option<&Stored>) -> Result<ScheduleDef, ApiError>,
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
        let def = change(read.schedule.as_ref())?;
        let now = read.now_ms;
        let record = ScheduleRecord {
            // An every_ms schedule keeps counting from where it did while its cadence stays.
            anchor_ms: match current {
                Some(c) if c.record.def.same_cadence(&def) => c.record.anchor_ms,
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
            WriteOutcome::Written {
                version: written,
                next_due,
            } => {
                let state = ScheduleState {
                    name: name.clone(),
                    version: written,
                    stored_bytes: 0,
                    next_due,
                    runs: current.map(|c| c.runs.clone()).unwrap_or_default(),
                    record,
                };
                let status = if version == 0 {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                let mut response = schedule_response(status, queue, &state, now);
                if version == 0 {
                    let location = format!("/v1/queues/{queue}/schedules/{name}");
                    if let Ok(value) = HeaderValue::try_from(location) {
                        response.headers_mut().insert(header::LOCATION, value);
                    }
                }
                return Ok(response);
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
