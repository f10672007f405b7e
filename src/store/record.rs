//! Task records as scripts return them: `{ id, meta JSON, payload, result, error history }`
//! (see `prelude/record.lua`, `task_reply`), turned into API types.
//!
//! Payloads and results are handed on as the exact JSON text stored, never re-serialized. A
//! record whose parts are not what the scripts promise is reported as unreadable, with why,
//! so the store can move it aside instead of failing on it again.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{
    AttemptFailure, Dependency, Labels, OnDependencyFailure, QueueName, ScheduleRunKind, Task,
    TaskError, TaskSchedule, TaskState, rfc3339_ms,
};

/// The metadata a script keeps per task (`meta` hash). Fields the API never shows are skipped.
/// A priority or counter that is 0 is not stored (prelude/record.lua): the serde defaults here
/// are what fill them in.
#[derive(Debug, Deserialize)]
pub struct TaskMeta {
    pub state: TaskState,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub attempts: u32,
    /// The task's own attempts limit, when it set one at submit.
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub attempts_expired: u32,
    #[serde(default)]
    pub attempts_failed: u32,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub run_at: i64,
    pub leased_until: Option<i64>,
    pub finished_at: Option<i64>,
    pub worker: Option<String>,
    pub lease_id: Option<String>,
    pub group: Option<String>,
    /// The labels a worker needs to lease it, canonical ("k=v,k=v").
    pub rset: Option<String>,
    /// The attempt whose progress is stored (`progress` hash), and when it was reported.
    pub prog: Option<u32>,
    pub prog_at: Option<i64>,
    /// The task's own start deadline length, and while it is ready, its deadline.
    pub start_ms: Option<u64>,
    pub start_by: Option<i64>,
    /// The schedule run that submitted it: "<tick|trigger> <ms> <name>" (schedules/fire.lua).
    /// Read leniently: a value of another shape is no schedule, not an unreadable record.
    #[serde(default, deserialize_with = "lenient_text")]
    pub sched: Option<String>,
    /// For a task with dependencies: what it does when one fails
    /// (`OnDependencyFailure::stored`).
    pub dfail: Option<String>,
    /// Set once a task has dependents (store/deps).
    pub kids: Option<u32>,
}

/// A text field that is dropped, not refused, when it holds anything else.
fn lenient_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => Some(text),
        _ => None,
    })
}

/// The schedule run a task's `sched` names.
fn schedule_run(text: &str) -> Option<TaskSchedule> {
    let mut parts = text.splitn(3, ' ');
    let kind = match parts.next()? {
        "tick" => ScheduleRunKind::Tick,
        "trigger" => ScheduleRunKind::Trigger,
        _ => return None,
    };
    let at = parts.next()?.parse::<i64>().ok()?;
    let name = parts.next()?.to_owned();
    Some(TaskSchedule {
        name,
        kind,
        at: rfc3339_ms(at),
    })
}

/// One line of a task's stored error history. The lease that failed the attempt is stored too
/// (for safe replays) but never shown.
#[derive(Debug, Deserialize)]
struct StoredError {
    attempt: u32,
    at: i64,
    kind: AttemptFailure,
    message: String,
}

/// A task's parts, with its payload and result already checked to be JSON.
pub struct Parts<'a> {
    pub id: String,
    pub meta: &'a str,
    pub payload: Box<RawValue>,
    pub result: Option<Box<RawValue>>,
    pub progress: Option<Box<RawValue>>,
    pub history: &'a [String],
    pub policy_max_attempts: u32,
    /// Its dependencies: (queue, id, stored outcome), for a task that has them.
    pub dependencies: Option<Vec<StoredDependency>>,
}

/// One parent as a task record holds it: queue, id, and the outcome delivered, if any.
pub type StoredDependency = (String, String, Option<String>);

/// A task as a script returned it, with the metadata it was built from.
pub struct TaskRecord {
    pub task: Task,
    pub meta: TaskMeta,
}

/// The raw parts of one task in a script's reply.
pub struct RecordParts {
    pub id: String,
    pub meta: String,
    pub payload: Option<String>,
    pub result: Option<String>,
    /// The current attempt's progress report, if it sent one.
    pub progress: Option<String>,
    /// Error history entries, oldest first (or one legacy text holding them all).
    pub history: Vec<String>,
    /// The queue's current max_attempts, for a task without its own.
    pub policy_max_attempts: u32,
    pub dependencies: Option<Vec<StoredDependency>>,
}

impl TaskRecord {
    /// Builds the task, or says why its stored parts cannot be used.
    pub fn build(queue: &QueueName, parts: RecordParts) -> Result<Self, String> {
        let payload = parts.payload.ok_or("the payload is missing")?;
        let payload =
            RawValue::from_string(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        let result = parts
            .result
            .map(RawValue::from_string)
            .transpose()
            .map_err(|e| format!("result is not JSON: {e}"))?;
        let progress = parts
            .progress
            .map(RawValue::from_string)
            .transpose()
            .map_err(|e| format!("progress is not JSON: {e}"))?;
        Self::assemble(
            queue,
            Parts {
                id: parts.id,
                meta: &parts.meta,
                payload,
                result,
                progress,
                history: &parts.history,
                policy_max_attempts: parts.policy_max_attempts,
                dependencies: parts.dependencies,
            },
        )
    }

    /// Builds the task from a payload and result already known to be JSON.
    pub fn assemble(queue: &QueueName, parts: Parts<'_>) -> Result<Self, String> {
        let meta: TaskMeta = serde_json::from_str(parts.meta)
            .map_err(|e| format!("metadata does not fit this version: {e}"))?;
        let errors = parse_history(parts.history)?;
        let (payload, result) = (parts.payload, parts.result);
        // A report belongs to the attempt that sent it: one left by an earlier attempt (a
        // record written between a lease and its clean-up) is not shown as this one's.
        let progress = parts.progress.filter(|_| meta.prog == Some(meta.attempts));
        // A flow's commit is a parent named `~<uuid>` in the flow's home queue: shown as the
        // task's flow, not as a dependency.
        let mut flow = None;
        let dependencies = parts
            .dependencies
            .map(|list| {
                list.into_iter()
                    .filter(|(queue, id, _)| match id.strip_prefix('~') {
                        Some(uuid) => {
                            flow = Some(format!("{queue}~{uuid}"));
                            false
                        }
                        None => true,
                    })
                    .map(|(queue, id, outcome)| {
                        Dependency::from_stored(queue, id, outcome.as_deref())
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|list| !list.is_empty());
        let task = Task {
            id: parts.id,
            queue: queue.to_string(),
            state: meta.state,
            payload,
            priority: meta.priority,
            attempts: meta.attempts,
            max_attempts: meta.max_attempts.unwrap_or(parts.policy_max_attempts),
            attempts_expired: meta.attempts_expired,
            attempts_failed: meta.attempts_failed,
            created_at: rfc3339_ms(meta.created_at),
            run_at: rfc3339_ms(meta.run_at),
            leased_until: meta.leased_until.map(rfc3339_ms),
            finished_at: meta.finished_at.map(rfc3339_ms),
            worker: meta.worker.clone(),
            group: meta.group.clone(),
            requires: meta
                .rset
                .as_deref()
                .map(|text| Labels::from_canonical(text).into_map()),
            start_within_ms: meta.start_ms,
            start_deadline: meta.start_by.map(rfc3339_ms),
            schedule: meta.sched.as_deref().and_then(schedule_run),
            progress_at: progress.as_ref().and(meta.prog_at).map(rfc3339_ms),
            progress,
            result,
            last_error: errors.last().map(|e| e.message.clone()),
            errors,
            on_dependency_failure: dependencies
                .as_ref()
                .map(|_| OnDependencyFailure::from_stored(meta.dfail.as_deref())),
            dependencies,
            flow,
            has_dependents: meta.kids.is_some(),
            debounced: None,
        };
        Ok(Self { task, meta })
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn a_schedule_run_reads_back_and_anything_else_is_none() {
        let run = schedule_run("tick 1764896957123 nightly-digest").expect("a run");
        assert_eq!(run.name, "nightly-digest");
        assert_eq!(run.kind, ScheduleRunKind::Tick);
        assert_eq!(run.at, rfc3339_ms(1_764_896_957_123));
        for bad in ["cron 1 x", "tick abc x", "tick 1", "", "trigger"] {
            assert_eq!(schedule_run(bad), None, "{bad}");
        }
        let meta = |sched: &str| {
            serde_json::from_str::<TaskMeta>(&format!(r#"{{"state": "ready", "sched": {sched}}}"#))
                .expect("a record that reads")
                .sched
        };
        assert_eq!(meta("5"), None, "another shape is no schedule");
        assert_eq!(meta(r#""trigger 1 s""#).as_deref(), Some("trigger 1 s"));
    }
}

/// Reads an error history: one JSON object per entry. Before record version 1 the whole
/// history was one text, a JSON array or one object per line; both are still read.
fn parse_history(entries: &[String]) -> Result<Vec<TaskError>, String> {
    let mut parsed: Vec<StoredError> = Vec::new();
    for entry in entries {
        if entry.starts_with('[') {
            let all: Vec<StoredError> = serde_json::from_str(entry)
                .map_err(|e| format!("error history is not JSON: {e}"))?;
            parsed.extend(all);
        } else {
            for line in entry.lines() {
                parsed.push(
                    serde_json::from_str(line)
                        .map_err(|e| format!("error history entry is not JSON: {e}"))?,
                );
            }
        }
    }
    Ok(parsed
        .into_iter()
        .map(|e| TaskError {
            attempt: e.attempt,
            at: rfc3339_ms(e.at),
            kind: e.kind,
            message: e.message,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_reads_entries_and_the_older_forms() {
        let first = r#"{"attempt":1,"at":0,"kind":"expired","message":"lease expired"}"#;
        let second = r#"{"attempt":2,"at":5,"kind":"failed","message":"a\nb","lease":"x"}"#;
        let entries = [first.to_owned(), second.to_owned()];
        let parsed = parse_history(&entries).expect("entries");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].message, "a\nb");
        let lines = [format!("{first}\n{second}")];
        assert_eq!(parse_history(&lines).expect("lines").len(), 2);
        let array = [format!("[{first}]")];
        assert_eq!(parse_history(&array).expect("array").len(), 1);
        assert!(parse_history(&["not json".to_owned()]).is_err());
        assert!(parse_history(&[]).expect("none").is_empty());
    }
}
