//! The domain vocabulary: queue names, task ids, tasks, leases, task states and the dispatch
//! policy, with their bounds. Plain types with serde and OpenAPI schemas.
//!
//! Nothing here knows about HTTP or Redis; both the API and the store speak in these types.
//! `task` holds tasks and leases, `policy` the dispatch policy, `queue` a queue's stats, `cron`
//! the cron expressions and time zones of recurring schedules and their next runs;
//! `times` formats and parses timestamps; names, ids and bounds are here.

mod cron;
mod dependency;
pub mod examples;
mod explain;
mod flow;
mod group;
mod labels;
mod policy;
mod queue;
pub mod schedule;
mod task;
mod times;
mod worker;

pub use cron::*;
pub use dependency::*;
pub use explain::*;
pub use flow::*;
pub use group::*;
pub use labels::*;
pub use policy::*;
pub use queue::*;
pub use task::*;
pub use times::*;
pub use worker::*;

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Lease lengths accepted anywhere (policy, task override, lease request, heartbeat).
pub const LEASE_MS_MIN: u64 = 1_000;
pub const LEASE_MS_MAX: u64 = 86_400_000;
/// Attempts a task may be given.
pub const MAX_ATTEMPTS_MAX: u32 = 1_000;
/// Task priorities; higher is leased first.
pub const PRIORITY_MIN: i32 = -1_000;
pub const PRIORITY_MAX: i32 = 1_000;
/// Most tasks one lease call may hand out.
pub const MAX_TASKS_MAX: u32 = 100;
/// Longest delay a submit or a retry may ask for: one year.
pub const DELAY_MS_MAX: u64 = 31_536_000_000;
/// The default of the policy's `workers_window_ms` (`--default-workers-window-ms`): how long
/// after its last call a worker counts as present (the workers view; explain's `no_workers`
/// and `no_matching_worker`).
pub const WORKER_WINDOW_MS: u64 = 300_000;
/// Most worker names one queue keeps (the workers view).
pub const WORKERS_PER_QUEUE_MAX: usize = 1_000;
/// Longest worker name recorded on a task, in characters.
pub const WORKER_NAME_MAX: usize = 128;
/// Longest lease id a worker may send, in characters (the ones we issue are 32 hex digits: 128
/// random bits).
pub const LEASE_ID_MAX: usize = 128;
/// Longest `request_id` a lease call may carry, in characters.
pub const REQUEST_ID_MAX: usize = 128;
/// Longest error message kept per failed attempt; longer ones are cut, not refused, so a worker
/// with a huge stack trace can still report its failure.
pub const ERROR_MESSAGE_MAX: usize = 4_096;
/// The default of `--max-json-depth`: how deeply a payload or result may nest arrays and
/// objects. A lease answer puts a payload 4 levels down (`{"leases": [{"task": {"payload"`),
/// so a payload at this depth is at most 68 deep where a client reads it: within serde_json's
/// limit of 128 (the strictest of the common parsers; Python's is about 1000, jq 1.6's 256,
/// Jackson's 1000, Go's 10000) with room for a client's own envelope.
pub const MAX_JSON_DEPTH_DEFAULT: usize = 64;
/// Failed attempts remembered per task, newest last.
pub const ERROR_HISTORY_MAX: usize = 10;
/// Largest `progress` a heartbeat may carry, in bytes of JSON text: a progress report is a
/// few numbers and a line of text, kept beside the task and sent to every stream following it.
pub const PROGRESS_BYTES_MAX: usize = 4_096;

/// One problem with one input field, as listed in a `validation` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"field": "max_tasks", "message": "must be a whole number from 1 to 100"}))]
pub struct FieldError {
    /// The offending field, as a JSON path into the request (`priority`, `backoff.jitter`) or a
    /// path parameter (`queue`, `id`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A checked queue name: `^[A-Za-z0-9._-]{1,128}$`, so it can never break out of its Redis
/// hash tag (no braces, colons or spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName(String);

impl QueueName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "queue",
                "must be 1-128 characters of A-Z a-z 0-9 . _ -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `prefix` is safe as the first segment of every Redis key.
pub fn is_valid_key_prefix(prefix: &str) -> bool {
    QueueName::parse(prefix).is_ok() && prefix.len() <= 64
}

/// A task id: a UUID in its canonical lowercase hyphenated form (new ones are UUIDv7, so they
/// sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(Uuid);

impl TaskId {
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Uuid::try_parse(raw)
            .map(Self)
            .map_err(|_| FieldError::new("id", "must be a task id (a UUID)"))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_the_spec_pattern() {
        for good in ["emails", "a", "A.b_c-9", &"x".repeat(128)] {
            assert!(QueueName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a{b}", "a:b", "a b", "é", &"x".repeat(129)] {
            assert!(QueueName::parse(bad).is_err(), "{bad}");
        }
    }
}
