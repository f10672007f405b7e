//! What the store takes (checked commands) and gives back (outcomes). Outcomes are not errors:
//! a lost lease or an unknown task is an answer the API layer turns into a status code.

use serde_json::value::RawValue;

use crate::model::{Field, FieldError, Lease, QueuePolicy, Task, TaskId};

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
    /// The producer's `Idempotency-Key`, with a fingerprint of its request: a repeat with the
    /// same key and fingerprint within the queue's dedup window gets the first task back.
    pub idempotency: Option<Idempotency>,
}

/// An idempotency key and the fingerprint (SHA-256, hex) of the request that carried it.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// A checked lease request.
#[derive(Debug, Clone, Default)]
pub struct LeaseRequest {
    pub worker: Option<String>,
    pub max_tasks: u32,
    pub lease_ms: Option<u64>,
    /// The client's id for this call: repeating it returns the same leases (SPEC §3.12).
    pub request_id: Option<String>,
}

/// One ack of a batch: the task, the lease it is fenced by, and its result, if any.
#[derive(Debug)]
pub struct AckItem {
    pub id: TaskId,
    pub lease_id: String,
    pub result: Option<Box<RawValue>>,
}

/// A checked fail.
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    pub retry: bool,
    pub retry_in_ms: Option<u64>,
}

/// How a submit ended.
#[derive(Debug)]
pub enum SubmitOutcome {
    Created(Box<Task>),
    /// A repeat of an earlier submit with the same idempotency key: its task, as it is now.
    Replayed(Box<Task>),
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
}

/// How a read ended.
#[derive(Debug)]
pub enum GetOutcome {
    Found(Box<Task>),
    NotFound,
    /// The task's record could not be read and was moved aside.
    Quarantined,
}

/// The leases a lease call granted, or the live ones of an earlier call with its request id.
#[derive(Debug, Default)]
pub struct LeaseOutcome {
    pub leases: Vec<Lease>,
    /// True when this repeats an earlier call with the same request id.
    pub replayed: bool,
    /// The queue is paused: nothing was leased.
    pub paused: bool,
    /// The queue's `max_in_flight` or rate limit allowed nothing now: try again after this.
    pub retry_after_ms: Option<u64>,
}

/// How an ack or fail ended.
#[derive(Debug)]
pub enum FinishOutcome {
    /// Applied now.
    Done(Task),
    /// This lease already did exactly this; nothing changed.
    Replayed(Task),
    /// The lease is not the task's live lease.
    LeaseLost,
    NotFound,
    /// The result is larger than the queue's `max_payload_bytes`; nothing changed.
    TooLarge {
        limit: u64,
    },
}

/// How a heartbeat ended.
#[derive(Debug)]
pub enum HeartbeatOutcome {
    Extended {
        expires_at: String,
        expires_in_ms: u64,
    },
    LeaseLost,
    NotFound,
}

/// What one reaper sweep of a queue did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReapReport {
    pub reclaimed: i64,
    pub promoted: i64,
    pub purged: i64,
    /// Some step hit its bound: sweep again.
    pub more: bool,
    /// The queue has nothing left and its last key was removed: drop it from the registry.
    pub gone: bool,
    /// The queue's tasks per state after the sweep.
    pub counts: crate::model::StateCounts,
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

/// A queue's policy: effective values, which are its own, and its version.
#[derive(Debug, Clone)]
pub struct PolicyState {
    pub effective: QueuePolicy,
    /// The fields the queue sets itself, in `Field::ALL` order.
    pub own: Vec<Field>,
    /// Grows by one on every change; 0 for a queue that never had a policy of its own.
    pub version: u64,
    /// When it last changed (ms since the epoch, Redis clock).
    pub updated_at: Option<i64>,
    /// Who changed it last, when known.
    pub updated_by: Option<String>,
}

/// How a policy write applies its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    /// The given values become the queue's own; every other field reverts to the default.
    Replace,
    /// The given values are set, those given as `None` revert to the default (JSON merge
    /// patch), others are kept.
    Merge,
    /// Every field reverts to the default.
    Reset,
}

/// A checked policy write.
#[derive(Debug, Clone)]
pub struct PolicyWrite {
    pub mode: PolicyMode,
    /// The `If-Match` version, when given.
    pub expected_version: Option<u64>,
    pub updated_by: Option<String>,
    /// Values to set (`Some`) or to revert to the default (`None`).
    pub values: Vec<(Field, Option<f64>)>,
}

/// How a policy write ended.
#[derive(Debug)]
pub enum PolicyWriteOutcome {
    Written(PolicyState),
    /// `If-Match` named another version; nothing changed.
    Stale {
        version: u64,
    },
    /// The merged policy breaks a rule between fields; nothing changed.
    Invalid(FieldError),
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

/// How the queues of a multi-queue lease are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// In the order given: the first queue with work is drained first.
    #[default]
    Strict,
    /// At random, in proportion to each queue's policy `weight`.
    Weighted,
}
