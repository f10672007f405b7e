//! The server's defaults for every queue's dispatch policy (`--default-*` flags), and the
//! policy every queue starts from.

use super::Config;
use crate::model::{Backoff, Distribution, GroupLimits, QueuePolicy};

/// The server's defaults for every queue's dispatch policy: a queue's own policy values
/// (`/v1/queues/{queue}/policy`) win over these. Instances serving one Redis should share them.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyDefaults {
    /// Default lease length when neither the worker nor the task asks for one.
    #[arg(long, env = "TASKGATE_DEFAULT_LEASE_MS", default_value_t = 30_000)]
    pub default_lease_ms: u64,

    /// Default number of attempts before a task is dead.
    #[arg(long, env = "TASKGATE_DEFAULT_MAX_ATTEMPTS", default_value_t = 5)]
    pub default_max_attempts: u32,

    /// First retry delay.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_BACKOFF_INITIAL_MS",
        default_value_t = 1000
    )]
    pub default_backoff_initial_ms: u64,

    /// Growth factor of the retry delay per attempt.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_BACKOFF_MULTIPLIER",
        default_value_t = 2.0
    )]
    pub default_backoff_multiplier: f64,

    /// Longest retry delay.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_BACKOFF_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub default_backoff_max_ms: u64,

    /// Random spread of each retry delay, as a fraction (0.2 = ±20%).
    #[arg(long, env = "TASKGATE_DEFAULT_BACKOFF_JITTER", default_value_t = 0.2)]
    pub default_backoff_jitter: f64,

    /// How long completed tasks are kept.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_COMPLETED_TTL_MS",
        default_value_t = 86_400_000
    )]
    pub default_completed_ttl_ms: u64,

    /// How long dead tasks are kept.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_DEAD_TTL_MS",
        default_value_t = 604_800_000
    )]
    pub default_dead_ttl_ms: u64,

    /// How long `Idempotency-Key`s are remembered.
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_DEDUP_WINDOW_MS",
        default_value_t = 86_400_000
    )]
    pub default_dedup_window_ms: u64,

    /// How long after its last lease or heartbeat a worker is listed in a queue's workers view
    /// and counts for explain (60000 to 3600000 ms; a queue's `workers_window_ms` wins).
    #[arg(
        long,
        env = "TASKGATE_DEFAULT_WORKERS_WINDOW_MS",
        default_value_t = crate::model::WORKER_WINDOW_MS
    )]
    pub default_workers_window_ms: u64,
}

impl Config {
    /// The policy every queue starts from.
    pub fn default_policy(&self) -> QueuePolicy {
        let d = &self.defaults;
        QueuePolicy {
            lease_ms: d.default_lease_ms,
            max_attempts: d.default_max_attempts,
            backoff: Backoff {
                initial_ms: d.default_backoff_initial_ms,
                multiplier: d.default_backoff_multiplier,
                max_ms: d.default_backoff_max_ms,
                jitter: d.default_backoff_jitter,
            },
            max_payload_bytes: self.max_payload_bytes,
            rate_limit: None,
            max_in_flight: None,
            start_ttl_ms: None,
            workers_window_ms: d.default_workers_window_ms,
            paused: false,
            weight: 1,
            completed_ttl_ms: d.default_completed_ttl_ms,
            dead_ttl_ms: d.default_dead_ttl_ms,
            dedup_window_ms: d.default_dedup_window_ms,
            strategy: Distribution::Priority,
            groups: GroupLimits::default(),
        }
    }
}
