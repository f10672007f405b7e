//! Tasks and leases as the API shows them, and the states a task goes through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{Dependency, OnDependencyFailure};

/// Where a task is in its life. `completed`, `dead` and `cancelled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its dependencies (`depends_on`) to finish.
    Waiting,
    /// Waiting for its `run_at` (a delayed submit, or a retry in backoff).
    Scheduled,
    /// Waiting for a worker.
    Ready,
    /// Held by a worker under a live lease.
    Leased,
    /// Acknowledged by a worker.
    Completed,
    /// Out of attempts, or failed with `retry: false`.
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 7] = [
        TaskState::Waiting,
        TaskState::Ready,
        TaskState::Scheduled,
        TaskState::Leased,
        TaskState::Completed,
        TaskState::Dead,
        TaskState::Cancelled,
    ];

    /// Every state's name, comma-separated, for messages.
    pub fn names() -> String {
        Self::ALL.map(TaskState::name).join(", ")
    }

    /// The state named `name`, as the API spells it.
    pub fn parse(name: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }

    /// Completed, dead and cancelled tasks change no more (unless redriven).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Dead | TaskState::Cancelled
        )
    }

    /// The state's name, as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Scheduled => "scheduled",
            TaskState::Ready => "ready",
            TaskState::Leased => "leased",
            TaskState::Completed => "completed",
            TaskState::Dead => "dead",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptFailure {
    /// The worker called `fail`.
    Failed,
    /// The lease ran out before the worker acked, failed or heartbeated; or, with `attempt`
    /// the attempts made so far and the message saying so, the task was not leased by its start
    /// deadline and was not run.
    Expired,
    /// A task it depends on ended `dead` or `cancelled`, or is gone (the message names it): it
    /// was not run, and went `dead` or `cancelled` as its `on_dependency_failure` says.
    Dependency,
}

/// One failed attempt in a task's error history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::task_error)]
pub struct TaskError {
    /// Which attempt (1-based) this was.
    pub attempt: u32,
    /// When the attempt ended (RFC 3339, Redis clock).
    pub at: String,
    pub kind: AttemptFailure,
    /// The worker's error text (cut to 4096 bytes), or `lease expired`.
    pub message: String,
}

/// A task: its payload plus everything the dispatcher knows about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::completed_task)]
pub struct Task {
    /// Task id (UUIDv7).
    pub id: String,
    /// Queue the task belongs to.
    pub queue: String,
    pub state: TaskState,
    /// The JSON value the producer submitted, unchanged.
    #[schema(value_type = serde_json::Value)]
    pub payload: Box<RawValue>,
    /// Higher is leased first; FIFO among equals.
    pub priority: i32,
    /// Leases granted so far (an attempt is one lease).
    pub attempts: u32,
    /// Attempts allowed before the task is dead.
    pub max_attempts: u32,
    /// Attempts that ended because the lease expired.
    pub attempts_expired: u32,
    /// Attempts that ended with an explicit `fail`.
    pub attempts_failed: u32,
    /// When the task was submitted (RFC 3339, Redis clock).
    pub created_at: String,
    /// When the task becomes (or became) ready to lease.
    pub run_at: String,
    /// While leased: when the current lease runs out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leased_until: Option<String>,
    /// When the task reached a terminal state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Name the last worker to lease the task gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The group the task was submitted in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The labels a worker must have to lease it (`requires` at submit), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<BTreeMap<String, String>>,
    /// The start deadline it was submitted with, if any (`start_within_ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_within_ms: Option<u64>,
    /// While ready with a start deadline (its own or the policy's `start_ttl_ms`): when it
    /// ends. Not leased by then, the task goes to `dead` unrun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_deadline: Option<String>,
    /// The schedule run that submitted it, for a task a schedule made (README, "Schedules").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<TaskSchedule>,
    /// The latest `progress` the current attempt's worker sent with a heartbeat, unchanged
    /// (cleared when a new attempt starts; kept once the task is finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub progress: Option<Box<RawValue>>,
    /// When that progress was reported (RFC 3339, Redis clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_at: Option<String>,
    /// What the worker passed to `ack`, unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<Box<RawValue>>,
    /// Message of the newest failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed attempts, oldest first, at most the last 10.
    pub errors: Vec<TaskError>,
    /// The tasks it depends on (`depends_on` at submit, or its flow's), each with what it
    /// knows of it, and a completed parent's result. In a lease every parent has finished,
    /// unless the task was redriven after a parent failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<Dependency>>,
    /// For a task with dependencies: what it does when one of them fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_dependency_failure: Option<OnDependencyFailure>,
    /// The flow it was submitted in (`POST /v1/flows`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Whether tasks depend on this one (their release follows its finish); not shown.
    #[serde(skip)]
    pub has_dependents: bool,
    /// In a submit's answer only: `true` when the submit's `debounce` key found this task still
    /// waiting for its run time, and gave it the submit's fields and a new run time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debounced: Option<bool>,
}

/// The schedule run that submitted a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"name": "nightly-digest", "kind": "tick", "at": "2026-11-25T01:30:00.000Z"}))]
pub struct TaskSchedule {
    /// The schedule's name (in the task's queue).
    pub name: String,
    pub kind: ScheduleRunKind,
    /// The tick it ran for (the time the run stands for, such as the night of a nightly
    /// report), or when it was triggered (RFC 3339).
    pub at: String,
}

/// What a schedule's run was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleRunKind {
    /// One of its ticks.
    Tick,
    /// A trigger.
    Trigger,
}

/// A granted lease: the right to work on `task` until `expires_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::lease)]
pub struct Lease {
    /// Fencing token: pass it to heartbeat, ack and fail. Unguessable; never shown elsewhere.
    pub lease_id: String,
    /// When the lease runs out unless extended (RFC 3339, Redis clock).
    pub expires_at: String,
    /// Milliseconds until `expires_at`, measured by Redis: schedule heartbeats from this rather
    /// than from your own clock.
    pub expires_in_ms: u64,
    /// Which attempt this lease is (1 on first delivery).
    pub attempt: u32,
    pub task: Task,
}
