//! A queue as the API shows it: how many tasks it holds in each state, its running totals,
//! and its effective policy.

use serde::Serialize;
use utoipa::ToSchema;

use super::QueuePolicy;

/// How many tasks are in each state now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateCounts {
    /// Waiting for their dependencies.
    pub waiting: u64,
    pub scheduled: u64,
    pub ready: u64,
    pub leased: u64,
    pub completed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// Records that could not be read and were moved aside (see the README).
    pub quarantined: u64,
}

impl StateCounts {
    /// Each state's name and count, as metrics label them.
    pub fn by_state(&self) -> [(&'static str, u64); 8] {
        [
            ("waiting", self.waiting),
            ("scheduled", self.scheduled),
            ("ready", self.ready),
            ("leased", self.leased),
            ("completed", self.completed),
            ("dead", self.dead),
            ("cancelled", self.cancelled),
            ("quarantined", self.quarantined),
        ]
    }
}

/// Running totals since the queue was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Totals {
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks acknowledged.
    pub completed: u64,
    /// Failed attempts, lease expiries included (a task ended by its start deadline made no
    /// attempt: it is counted in `expired`, not here).
    pub failed: u64,
    /// Tasks that ran out of attempts (or failed with `retry: false`, or were not leased by
    /// their start deadline).
    pub dead: u64,
    /// Tasks not leased by their start deadline (`start_within_ms`, `start_ttl_ms`), sent to
    /// `dead` unrun; counted in `dead` too.
    pub expired: u64,
    /// Submits a `debounce` key's waiting task took (updates, not new tasks: not counted in
    /// `submitted`).
    pub debounced: u64,
}

/// A queue's task groups that have ready tasks now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupTally {
    /// Groups with ready tasks (held ones included).
    pub ready: u64,
    /// Of those, the ones a limit holds now (paused, at their `max_in_flight`, out of rate
    /// tokens, or ordered with a task out).
    pub held: u64,
}

/// A queue: counts per state, totals, the age of its oldest ready task and its policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::queue_stats)]
pub struct QueueStats {
    pub name: String,
    pub counts: StateCounts,
    pub totals: Totals,
    /// How long the oldest ready task has waited, in ms (by the Redis clock); `null` when
    /// nothing is ready.
    pub oldest_ready_age_ms: Option<u64>,
    /// Its task groups with ready tasks, and how many of them a limit holds.
    pub groups: GroupTally,
    /// How many schedules it has (README, "Schedules").
    pub schedules: u64,
    /// The queue's effective policy.
    pub policy: QueuePolicy,
}

/// Minutes of history a queue keeps: one day, one snapshot a minute.
pub const HISTORY_MINUTES: usize = 1440;

/// One minute of a queue's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// The minute's start (RFC 3339, Redis clock).
    pub at: String,
    /// Tasks submitted in the minute.
    pub submitted: u64,
    /// Tasks completed in the minute.
    pub completed: u64,
    /// Failed attempts in the minute (lease expiries included).
    pub failed: u64,
    /// Tasks that went dead in the minute.
    pub dead: u64,
    /// Tasks not leased by their start deadline in the minute (counted in `dead` too).
    pub expired: u64,
    /// Ready tasks at the minute's last sample; `null` for a minute no sweep sampled (its
    /// counts then show in the next minute that has a sample).
    pub backlog: Option<u64>,
    /// Leased tasks at the minute's last sample; `null` as for `backlog`.
    pub in_flight: Option<u64>,
}

impl HistoryPoint {
    /// A minute no sweep sampled.
    pub fn quiet(at: String) -> Self {
        Self {
            at,
            submitted: 0,
            completed: 0,
            failed: 0,
            dead: 0,
            expired: 0,
            backlog: None,
            in_flight: None,
        }
    }
}

/// A queue's history over a window, a point per minute, oldest first, the current minute last
/// (so far).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::queue_history)]
pub struct QueueHistory {
    pub queue: String,
    /// `1h` or `24h`.
    pub window: String,
    /// Milliseconds between points: 60000.
    pub step_ms: u64,
    pub points: Vec<HistoryPoint>,
}
