//! The domain vocabulary: queue names, task ids, tasks, leases, task states and the dispatch
//! policy, with their bounds. Plain types with serde and OpenAPI schemas.
//!
//! Nothing here knows about HTTP or Redis; both the API and the store speak in these types.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::macros::format_description;
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
/// Failed attempts remembered per task, newest last.
pub const ERROR_HISTORY_MAX: usize = 10;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// Where a task is in its life. `completed`, `dead` and `cancelled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
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

/// Why one attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptFailure {
    /// The worker called `fail`.
    Failed,
    /// The lease ran out before the worker acked, failed or heartbeated.
    Expired,
}

/// One failed attempt in a task's error history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::examples::task_error)]
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
#[schema(example = crate::examples::completed_task)]
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
    /// What the worker passed to `ack`, unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<Box<RawValue>>,
    /// Message of the newest failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed attempts, oldest first, at most the last 10.
    pub errors: Vec<TaskError>,
}

/// A granted lease: the right to work on `task` until `expires_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::examples::lease)]
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

/// Retry delays: `initial_ms × multiplier^(attempt-1)`, capped at `max_ms`, spread by ±`jitter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = crate::examples::backoff)]
pub struct Backoff {
    pub initial_ms: u64,
    pub multiplier: f64,
    pub max_ms: u64,
    pub jitter: f64,
}

/// A queue's dispatch parameters. For now every queue uses the server's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueuePolicy {
    /// Lease length when neither the worker nor the task asks for one.
    pub lease_ms: u64,
    /// Attempts before a task is dead (fixed on each task when it is submitted).
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Largest accepted payload or result, in bytes of compact JSON.
    pub max_payload_bytes: usize,
    /// How long completed tasks are kept.
    pub completed_ttl_ms: u64,
    /// How long dead tasks are kept.
    pub dead_ttl_ms: u64,
}

impl QueuePolicy {
    /// Every value out of its bounds, named by field.
    pub fn check(&self) -> Vec<FieldError> {
        const DAY_MS: u64 = 86_400_000;
        let mut errors = Vec::new();
        let mut bound = |ok: bool, field: &str, message: &str| {
            if !ok {
                errors.push(FieldError::new(field, message));
            }
        };
        bound(
            (LEASE_MS_MIN..=LEASE_MS_MAX).contains(&self.lease_ms),
            "lease_ms",
            "must be between 1000 and 86400000",
        );
        bound(
            (1..=MAX_ATTEMPTS_MAX).contains(&self.max_attempts),
            "max_attempts",
            "must be between 1 and 1000",
        );
        let b = &self.backoff;
        bound(
            b.initial_ms <= b.max_ms,
            "backoff.initial_ms",
            "must not exceed backoff.max_ms",
        );
        bound(
            (1.0..=100.0).contains(&b.multiplier),
            "backoff.multiplier",
            "must be between 1 and 100",
        );
        bound(
            b.max_ms <= 30 * DAY_MS,
            "backoff.max_ms",
            "must be at most 30 days (2592000000)",
        );
        bound(
            (0.0..=1.0).contains(&b.jitter),
            "backoff.jitter",
            "must be between 0 and 1",
        );
        for (field, ttl) in [
            ("completed_ttl_ms", self.completed_ttl_ms),
            ("dead_ttl_ms", self.dead_ttl_ms),
        ] {
            bound(
                (1_000..=365 * DAY_MS).contains(&ttl),
                field,
                "must be between 1000 and 31536000000",
            );
        }
        errors
    }
}

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with millisecond precision.
pub fn rfc3339_ms(epoch_ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "invalid-time".to_owned())
}

/// Parses an RFC 3339 timestamp into milliseconds since the Unix epoch.
pub fn parse_rfc3339_ms(raw: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
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

    #[test]
    fn times_round_trip_through_rfc3339() {
        let ms = 1_764_077_100_123;
        let text = rfc3339_ms(ms);
        assert_eq!(text, "2025-11-25T13:25:00.123Z");
        assert_eq!(parse_rfc3339_ms(&text), Some(ms));
        assert_eq!(parse_rfc3339_ms("2025-11-25T14:25:00.123+01:00"), Some(ms));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
