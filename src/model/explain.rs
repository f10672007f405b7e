//! Why a task is where it is: the answer of `GET …/tasks/{id}/explain`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::{TaskRef, TaskState};

/// What holds a task, or what became of it. Stable names: code against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// It waits for the tasks it depends on: `waiting_for` lists those it has not heard have
    /// finished.
    WaitingFor,
    /// It waits for its `run_at` (a delay, or a retry's backoff): `until`.
    Scheduled,
    /// Its start deadline (`start_within_ms` or the policy's `start_ttl_ms`) passed at `until`:
    /// it will not be started, and the next call that reads it (a lease, a GET) or the sweep
    /// ends it `dead`.
    StartDeadlinePassed,
    /// The queue is paused.
    QueuePaused,
    /// The queue has `limit` tasks leased, its `max_in_flight`: `in_flight` of `limit`.
    QueueMaxInFlight,
    /// The queue's rate limit has no token now: the next in `retry_in_ms`.
    QueueRateLimited,
    /// Its group is paused.
    GroupPaused,
    /// Its group has its `max_in_flight` out: `in_flight` of `limit`.
    GroupMaxInFlight,
    /// Its group's rate limit has no token now: the next in `retry_in_ms`.
    GroupRateLimited,
    /// Its group is ordered and another of its tasks (`task_id`, in `task_state`) is out.
    OrderedGroupBusy,
    /// Its group's next task (`task_id`) `requires` labels that no worker seen lately has:
    /// the group keeps its order, so it waits for such a worker.
    GroupNextNeedsLabels,
    /// No lease call has reached this queue lately (`last_lease_at`, when one is on record).
    NoWorkers,
    /// It `requires` labels that none of the `workers_seen` workers that called this queue
    /// lately had on their last lease call.
    NoMatchingWorker,
    /// `ahead` tasks will be leased before it (`exact`, or at least that many), counted over
    /// `scope`.
    Behind,
    /// A worker holds it (`worker`) until `until`.
    Leased,
    /// It completed at `until`, after `attempts` attempts.
    Completed,
    /// It is dead since `until`; `message` says why.
    Dead,
    /// It was cancelled at `until`.
    Cancelled,
}

impl ReasonCode {
    /// Whether this reason alone keeps the task from the next lease.
    pub fn holds(self) -> bool {
        !matches!(
            self,
            ReasonCode::NoWorkers | ReasonCode::NoMatchingWorker | ReasonCode::Behind
        )
    }
}

/// Which tasks `behind` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BehindScope {
    /// Every ready task of the queue.
    Queue,
    /// The task's own group (other groups' turns come between).
    Group,
    /// The tasks without a group, which take their fair turns as one group.
    Ungrouped,
}

/// One reason, in words and in numbers (the fields its code names).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reason {
    pub code: ReasonCode,
    /// The reason in a sentence, with its numbers.
    pub message: String,
    /// `scheduled`: when it becomes ready; `leased`: when the lease runs out;
    /// `start_deadline_passed`: when the deadline passed; finished: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The group a `group_*` or `ordered_group_busy` reason is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Rate limits: milliseconds until the next token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// `ordered_group_busy`: the task that holds the group, and its state;
    /// `group_next_needs_labels`: the group's next task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_state: Option<TaskState>,
    /// `behind`: how many tasks are ahead, whether that is exact (else a lower bound), and over
    /// which tasks it is counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<BehindScope>,
    /// `leased`: the name its worker gave, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// `no_workers`: the queue's last lease call, if there ever was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_lease_at: Option<String>,
    /// `no_matching_worker`: the task's requirements, and how many workers called lately;
    /// `group_next_needs_labels`: the group's next task's requirements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_seen: Option<u64>,
    /// Finished: the attempts made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// `waiting_for`: the parents that have not finished (as far as the task has heard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<Vec<TaskRef>>,
}

impl Reason {
    /// A reason with only its code and message; the caller sets its numbers.
    pub fn new(code: ReasonCode, message: String) -> Self {
        Self {
            code,
            message,
            until: None,
            group: None,
            in_flight: None,
            limit: None,
            retry_in_ms: None,
            task_id: None,
            task_state: None,
            ahead: None,
            exact: None,
            scope: None,
            worker: None,
            last_lease_at: None,
            requires: None,
            workers_seen: None,
            attempts: None,
            waiting_for: None,
        }
    }
}

/// Why a task is where it is, read in one atomic step.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::explanation)]
pub struct Explanation {
    /// The task's state (a scheduled task whose time has come is `ready`).
    pub state: TaskState,
    /// True when the next lease call on the queue would take it: nothing holds it and the
    /// queue's order is known to put it first (a `behind` of 0, exact, over the whole queue).
    /// False whenever that is not certain, as under `fair` with groups, where the turns decide.
    pub runnable_now: bool,
    /// Every cause that holds it now, in the order a lease meets them; for a leased or
    /// finished task, one reason saying who holds it or how it ended.
    pub reasons: Vec<Reason>,
}
