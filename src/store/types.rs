//! What the store takes (checked commands) and gives back (outcomes). Outcomes are not errors:
//! a lost lease or an unknown task is an answer the API layer turns into a status code.

use serde_json::value::RawValue;

use crate::model::{Lease, Task};

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
}

/// A checked lease request.
#[derive(Debug, Default)]
pub struct LeaseRequest {
    pub worker: Option<String>,
    pub max_tasks: u32,
    pub lease_ms: Option<u64>,
    /// The client's id for this call: repeating it returns the same leases (SPEC §3.12).
    pub request_id: Option<String>,
}

/// A checked fail.
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    pub retry: bool,
    pub retry_in_ms: Option<u64>,
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
#[derive(Debug)]
pub struct LeaseOutcome {
    pub leases: Vec<Lease>,
    /// True when this repeats an earlier call with the same request id.
    pub replayed: bool,
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
}
