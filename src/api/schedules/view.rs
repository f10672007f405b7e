//! A schedule as the API shows it: its definition in the shape a `PUT` takes (so a `GET`'s
//! answer, less the read-only fields of `READ_ONLY`, can be sent back, and is what a `PATCH`
//! merges into), where it stands, its next and last runs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::model::schedule::{CatchUp, NEXT_RUNS, TaskTemplate, runs_after};
use crate::model::{Requires, ScheduleRunKind, rfc3339_ms};
use crate::store::schedules::ScheduleState;

/// The fields of a schedule's view that are not part of its definition.
pub const READ_ONLY: [&str; 10] = [
    "queue",
    "name",
    "status",
    "next_runs",
    "last_runs",
    "runs",
    "version",
    "created_at",
    "updated_at",
    "updated_by",
];

/// A schedule.
#[derive(Serialize, ToSchema)]
#[schema(example = crate::model::examples::schedule_view)]
pub struct ScheduleView {
    pub queue: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    pub task: TaskView,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    pub catch_up: CatchUp,
    /// `active`, `paused`, or `ended` (past `end_at`, or a cron expression with no more ticks).
    pub status: ScheduleStatus,
    /// The next runs (up to 5, RFC 3339, Redis clock); empty when paused or ended.
    pub next_runs: Vec<String>,
    /// The last runs (up to 10), newest first, with their tasks; only in a read of one
    /// schedule (a page leaves it empty).
    pub last_runs: Vec<RunView>,
    /// How many runs it had.
    pub runs: RunCounts,
    /// Grows on every change, and is at least the Redis clock in ms, so a schedule made again
    /// under a deleted one's name never has a version an old `ETag` names; also the `ETag`
    /// (`"1764896957123"`).
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Who changed it last, when known.
    pub updated_by: Option<String>,
}

/// The task each run submits.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    pub priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_within_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<BTreeMap<String, String>>,
}

/// Where a schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStatus {
    Active,
    Paused,
    Ended,
}

/// One run of a schedule.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    /// The tick it ran for, or when it was triggered (RFC 3339).
    pub at: String,
    pub kind: ScheduleRunKind,
    /// The task it submitted.
    pub task_id: Option<String>,
    /// The state that task is in now; `null` once it is purged.
    pub state: Option<String>,
    /// Why no task was submitted, when the submit was refused (the payload over the queue's
    /// `max_payload_bytes`, the queue at its 64 requirement sets); `null` for a run that
    /// submitted its task.
    pub error: Option<String>,
}

/// A schedule's runs, counted.
#[derive(Serialize, ToSchema)]
pub struct RunCounts {
    /// Ticks whose task was submitted.
    pub fired: u64,
    /// Triggers whose task was submitted.
    pub triggered: u64,
    /// Ticks that came and went without a run (see `catch_up`).
    pub missed: u64,
    /// Runs whose submit was refused.
    pub failed: u64,
}

/// One page of schedules.
#[derive(Serialize, ToSchema)]
pub struct SchedulePageView {
    pub schedules: Vec<ScheduleView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl TaskView {
    fn of(task: &TaskTemplate) -> Self {
        Self {
            payload: task.payload.clone(),
            priority: task.priority,
            delay_ms: task.delay_ms,
            max_attempts: task.max_attempts,
            lease_ms: task.lease_ms,
            group: task.group.clone(),
            start_within_ms: task.start_within_ms,
            requires: task
                .requires
                .as_deref()
                .map(|text| Requires::from_canonical(text).into_map()),
        }
    }
}

/// A refused run's reason, as the script recorded it, in words.
fn refusal(code: &str) -> String {
    match code {
        "too_large" => "the payload is over the queue's max_payload_bytes".to_owned(),
        "requires_full" => {
            "the queue already has 64 distinct requirement sets among its live tasks".to_owned()
        }
        other => format!("the submit was refused ({other})"),
    }
}

impl ScheduleView {
    /// The view of `state` as read at `now_ms` (Redis clock).
    pub fn of(queue: &str, state: &ScheduleState, now_ms: i64) -> Self {
        let record = &state.record;
        let def = &record.def;
        // When the schedule is due, its next run is the tick it waits for (which a sweep may
        // not have fired yet), then the ones after it.
        let next_runs: Vec<i64> = match (record.cadence(), state.next_due) {
            (Ok(cadence), Some(due)) if !def.paused => {
                let mut runs = vec![due];
                runs.extend(runs_after(&cadence, record.window(), due, NEXT_RUNS - 1));
                runs
            }
            (Ok(cadence), None) if !def.paused => {
                runs_after(&cadence, record.window(), now_ms, NEXT_RUNS)
            }
            _ => Vec::new(),
        };
        let status = if def.paused {
            ScheduleStatus::Paused
        } else if next_runs.is_empty() {
            ScheduleStatus::Ended
        } else {
            ScheduleStatus::Active
        };
        let log = &state.runs;
        Self {
            queue: queue.to_owned(),
            name: state.name.to_string(),
            cron: def.cron.clone(),
            timezone: def.timezone.clone(),
            every_ms: def.every_ms,
            task: TaskView::of(&def.task),
            paused: def.paused,
            start_at: def.start_at.map(rfc3339_ms),
            end_at: def.end_at.map(rfc3339_ms),
            catch_up: def.catch_up,
            status,
            next_runs: next_runs.into_iter().map(rfc3339_ms).collect(),
            last_runs: log
                .runs
                .iter()
                .map(|run| RunView {
                    at: rfc3339_ms(run.at),
                    kind: run.kind,
                    task_id: run.task_id.clone(),
                    state: run.state.clone(),
                    error: run.error.as_deref().map(refusal),
                })
                .collect(),
            runs: RunCounts {
                fired: log.fired,
                triggered: log.triggered,
                missed: log.missed,
                failed: log.failed,
            },
            version: state.version,
            created_at: rfc3339_ms(record.created_at),
            updated_at: rfc3339_ms(record.updated_at),
            updated_by: record.updated_by.clone(),
        }
    }
}
