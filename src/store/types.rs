//! What the store takes (checked commands) and gives back (outcomes). Outcomes are not errors:
//! a lost lease or an unknown task is an answer the API layer turns into a status code.

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
    /// The payload as compact JSON text.
    pub payload: String,
    pub priority: i32,
    pub start: Start,
    pub max_attempts: Option<u32>,
    pub lease_ms: Option<u64>,
}

/// A checked lease request.
#[derive(Debug)]
pub struct LeaseRequest {
    pub worker: Option<String>,
    pub max_tasks: u32,
    pub lease_ms: Option<u64>,
}

/// A checked fail.
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    pub retry: bool,
    pub retry_in_ms: Option<u64>,
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
    /// Some kind hit the batch limit: sweep again now.
    pub more: bool,
}
