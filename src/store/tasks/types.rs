//! What the tasks service takes (checked commands) and gives back (outcomes). Outcomes are
//! not errors: a replayed key or an unknown task is an answer the API turns into a status.

use serde_json::value::RawValue;

use crate::model::Task;

/// When a new task becomes ready.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Now,
    /// This long after the Redis clock's now.
    AfterMs(u64),
    /// At this time (ms since the epoch); a past time means now.
    AtMs(i64),
}

/// A checked submit.
#[derive(Debug)]
pub struct NewTask {
    /// The payload as the exact JSON text received.
    pub payload: Box<RawValue>,
    pub priority: i32,
    pub start: Start,
    pub max_attempts: Option<u32>,
    pub lease_ms: Option<u64>,
    /// Its own start deadline: not leased within this long of becoming ready, it is not run.
    pub start_within_ms: Option<u64>,
    /// The task's group, if it names one.
    pub group: Option<crate::model::GroupName>,
    /// The labels a worker needs to lease it, canonical (`Requires::canonical`), if any.
    pub requires: Option<String>,
    /// Debounce: while the task of this key still waits for its run time, this submit updates
    /// it instead of adding one (`start` is then ignored).
    pub debounce: Option<DebounceSpec>,
    /// The tasks it waits for (none: it does not wait), and what it does if one fails.
    pub depends_on: Option<Vec<crate::model::DependencyRef>>,
    pub on_dependency_failure: crate::model::OnDependencyFailure,
    /// The flow it is stored in (store/flows): it waits for the flow's commit too.
    pub flow: Option<crate::model::FlowId>,
    /// The producer's `Idempotency-Key`, with a fingerprint of its request: a repeat with the
    /// same key and fingerprint within the queue's dedup window gets the first task back.
    pub idempotency: Option<Idempotency>,
}

/// A submit's debounce: its key, how long after this submit the task runs, and at most how
/// long after the first submit of the key's task.
#[derive(Debug, Clone)]
pub struct DebounceSpec {
    pub key: String,
    pub delay_ms: u64,
    pub max_delay_ms: Option<u64>,
}

/// An idempotency key and the fingerprint (SHA-256, hex) of the request that carried it.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// How a submit ended.
#[derive(Debug)]
pub enum SubmitOutcome {
    Created(Box<Task>),
    /// A repeat of an earlier submit with the same idempotency key: its task, as it is now.
    Replayed(Box<Task>),
    /// The debounce key's task, still waiting, took this submit's fields and a new run time.
    Debounced(Box<Task>),
    /// The payload is larger than the queue's `max_payload_bytes`.
    TooLarge {
        limit: u64,
    },
    /// The idempotency key was used, within its window, for a request with another body.
    KeyReused {
        first: String,
    },
    /// The idempotency key is still remembered, but its task has since been removed.
    KeyGone {
        first: String,
    },
    /// Its requirement set would be one more than the queue's `REQUIREMENT_SETS_MAX`.
    RequirementSetsFull {
        limit: u64,
    },
    /// These parents (`depends_on`) do not exist: nothing was stored.
    UnknownDependencies(Vec<crate::model::DependencyRef>),
}

/// How a read ended.
#[derive(Debug)]
pub enum GetOutcome {
    Found(Box<Task>),
    NotFound,
    /// The task's record could not be read and was moved aside.
    Quarantined,
}

/// How a cancel ended.
#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<Task>),
    /// It was cancelled before; nothing changed.
    AlreadyCancelled(Box<Task>),
    /// It is completed or dead: there is nothing to cancel.
    Finished(Box<Task>),
    NotFound,
}

/// One page of a queue's tasks in one state.
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Where the next page starts, when there is one.
    pub next: Option<PageCursor>,
}

/// A position in one state's set: the score and member of the last task seen (the member is
/// the task id, or for ready tasks `<arrival>:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub score: i64,
    pub member: String,
}
