//! Server configuration: every setting is a command-line flag and a `TASKGATE_*` environment
//! variable, documented here once so that `--help` and the README stay in step.
//!
//! This module only parses and checks settings; it opens no connection and starts nothing.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::model::{Backoff, QueuePolicy};

/// taskgate: HTTP/REST task dispatch in front of Redis.
#[derive(Debug, Clone, Parser)]
#[command(name = "taskgate", version, about)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address the HTTP server listens on.
    #[arg(long, env = "TASKGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Redis URL (`redis://`, with optional `user:password@` for ACLs).
    #[arg(
        long,
        env = "TASKGATE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,

    /// Prefix of every Redis key taskgate writes, so several deployments can share one Redis.
    #[arg(long, env = "TASKGATE_KEY_PREFIX", default_value = "tg")]
    pub key_prefix: String,

    /// Most Redis connections this instance keeps open. Each one is multiplexed: any number of
    /// concurrent requests share it, pipelined on one socket.
    #[arg(long, env = "TASKGATE_REDIS_POOL_SIZE", default_value_t = 4)]
    pub redis_pool_size: usize,

    /// How long a request waits for a Redis connection to be opened before it fails with 503.
    #[arg(long, env = "TASKGATE_REDIS_WAIT_TIMEOUT_MS", default_value_t = 1000)]
    pub redis_wait_timeout_ms: u64,

    /// How long opening a Redis connection may take before it fails with 503.
    #[arg(
        long,
        env = "TASKGATE_REDIS_CONNECT_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub redis_connect_timeout_ms: u64,

    /// How long one Redis command may take before it fails with 503.
    #[arg(
        long,
        env = "TASKGATE_REDIS_RESPONSE_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub redis_response_timeout_ms: u64,

    /// Longest time a request may take end to end before it is answered with 408.
    #[arg(long, env = "TASKGATE_REQUEST_TIMEOUT_MS", default_value_t = 35000)]
    pub request_timeout_ms: u64,

    /// Largest task payload (and ack result) in bytes of its JSON text as sent; also the default
    /// of the policy's `max_payload_bytes`. Request bodies may be this plus 64 KiB of envelope.
    #[arg(long, env = "TASKGATE_MAX_PAYLOAD_BYTES", default_value_t = 1_048_576)]
    pub max_payload_bytes: usize,

    /// How often each instance sweeps every queue for expired leases, due retries and expired
    /// terminal tasks. 0 turns the sweep off (for tests of other parts only).
    #[arg(long, env = "TASKGATE_REAPER_INTERVAL_MS", default_value_t = 500)]
    pub reaper_interval_ms: u64,

    /// Log format: `text` or `json`.
    #[arg(long, env = "TASKGATE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    #[command(flatten)]
    pub defaults: PolicyDefaults,
}

/// Commands other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print the OpenAPI document (JSON) to stdout, e.g. to refresh `openapi/openapi.json`.
    Openapi,
    /// Exit 0 when the server at `--listen` answers `/healthz` (for container health checks).
    Healthcheck,
}

/// The default dispatch policy of every queue, until the per-queue policy API overrides it.
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
}

impl Config {
    /// Checks the settings that clap's types cannot, returning every problem at once.
    pub fn validate(&self) -> Result<(), String> {
        let policy = self.default_policy();
        let mut problems = policy
            .check()
            .into_iter()
            .map(|e| format!("default {}: {}", e.field, e.message))
            .collect::<Vec<_>>();
        if self.redis_pool_size == 0 {
            problems.push("redis_pool_size must be at least 1".into());
        }
        if self.max_payload_bytes == 0 {
            problems.push("max_payload_bytes must be at least 1".into());
        }
        if !crate::model::is_valid_key_prefix(&self.key_prefix) {
            problems.push("key_prefix must be 1-64 characters of A-Z a-z 0-9 . _ -".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

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
            completed_ttl_ms: d.default_completed_ttl_ms,
            dead_ttl_ms: d.default_dead_ttl_ms,
        }
    }

    /// Largest request body accepted: the payload cap plus room for the JSON envelope.
    pub fn max_body_bytes(&self) -> usize {
        self.max_payload_bytes.saturating_add(64 * 1024)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn reaper_interval(&self) -> Option<Duration> {
        (self.reaper_interval_ms > 0).then(|| Duration::from_millis(self.reaper_interval_ms))
    }
}
