//! What the dispatch service takes and gives back. A lost lease is an outcome, not an error:
//! the API layer decides what it means.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::model::{Labels, Lease, Task, TaskId};

/// A checked lease request.
#[derive(Debug, Clone, Default)]
pub struct LeaseRequest {
    pub worker: Option<String>,
    pub max_tasks: u32,
    pub lease_ms: Option<u64>,
    /// The client's id for this call: repeating it returns the same leases (SPEC §3.12).
    pub request_id: Option<String>,
    /// The worker's labels, when it has any: it is given only tasks whose requirements they
    /// include (and those without). Shared with the long poll's wake-up filter.
    pub labels: Option<Arc<Labels>>,
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
    /// Nothing was leased, and the queue may hold ready tasks these labels do not satisfy:
    /// its emptiness is not this worker's to remember for others.
    pub unmatched: bool,
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
        /// Its progress report was not stored: Redis is full (the lease was extended all
        /// the same).
        progress_dropped: bool,
    },
    LeaseLost,
    NotFound,
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
