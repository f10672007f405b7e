//! A queue's dispatch policy: its fields, their bounds (the one source of them), and how a
//! queue's own values combine with the server's defaults.
//!
//! A policy is stored in Redis as the queue's own values only, one hash field per leaf
//! (`lease_ms`, `backoff.jitter`, `rate_limit.per_second`, ...). The effective policy is the
//! server's defaults with those values on top; the dispatch scripts compute it the same way.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;

const DAY_MS: f64 = 86_400_000.0;

/// One leaf of the policy, named as in the API and in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    LeaseMs,
    MaxAttempts,
    BackoffInitialMs,
    BackoffMultiplier,
    BackoffMaxMs,
    BackoffJitter,
    MaxPayloadBytes,
    RatePerSecond,
    RateBurst,
    MaxInFlight,
    Paused,
    Weight,
    CompletedTtlMs,
    DeadTtlMs,
    DedupWindowMs,
    Strategy,
    GroupMaxInFlight,
    GroupRatePerSecond,
    GroupRateBurst,
    GroupOrdered,
    StartTtlMs,
    WorkersWindowMs,
}

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Number,
    Boolean,
    /// One of a list of names, stored (and bounded) as its index in the list.
    Choice(&'static [&'static str]),
}

impl Field {
    pub const ALL: [Field; 22] = [
        Field::LeaseMs,
        Field::MaxAttempts,
        Field::BackoffInitialMs,
        Field::BackoffMultiplier,
        Field::BackoffMaxMs,
        Field::BackoffJitter,
        Field::MaxPayloadBytes,
        Field::RatePerSecond,
        Field::RateBurst,
        Field::MaxInFlight,
        Field::Paused,
        Field::Weight,
        Field::CompletedTtlMs,
        Field::DeadTtlMs,
        Field::DedupWindowMs,
        Field::Strategy,
        Field::GroupMaxInFlight,
        Field::GroupRatePerSecond,
        Field::GroupRateBurst,
        Field::GroupOrdered,
        Field::StartTtlMs,
        Field::WorkersWindowMs,
    ];

    /// The field's name in the API (a dotted path for nested ones) and in Redis.
    pub fn name(self) -> &'static str {
        match self {
            Field::LeaseMs => "lease_ms",
            Field::MaxAttempts => "max_attempts",
            Field::BackoffInitialMs => "backoff.initial_ms",
            Field::BackoffMultiplier => "backoff.multiplier",
            Field::BackoffMaxMs => "backoff.max_ms",
            Field::BackoffJitter => "backoff.jitter",
            Field::MaxPayloadBytes => "max_payload_bytes",
            Field::RatePerSecond => "rate_limit.per_second",
            Field::RateBurst => "rate_limit.burst",
            Field::MaxInFlight => "max_in_flight",
            Field::Paused => "paused",
            Field::Weight => "weight",
            Field::CompletedTtlMs => "completed_ttl_ms",
            Field::DeadTtlMs => "dead_ttl_ms",
            Field::DedupWindowMs => "dedup_window_ms",
            Field::Strategy => "strategy",
            Field::GroupMaxInFlight => "groups.max_in_flight",
            Field::GroupRatePerSecond => "groups.rate_limit.per_second",
            Field::GroupRateBurst => "groups.rate_limit.burst",
            Field::GroupOrdered => "groups.ordered",
            Field::StartTtlMs => "start_ttl_ms",
            Field::WorkersWindowMs => "workers_window_ms",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn kind(self) -> Kind {
        match self {
            Field::BackoffMultiplier
            | Field::BackoffJitter
            | Field::RatePerSecond
            | Field::GroupRatePerSecond => Kind::Number,
            Field::Paused | Field::GroupOrdered => Kind::Boolean,
            Field::Strategy => Kind::Choice(&Distribution::NAMES),
            _ => Kind::Integer,
        }
    }

    /// The values the field accepts, inclusive. `max_payload_bytes` is further capped by the
    /// server's own limit. (Booleans are 0 and 1.)
    pub fn bounds(self) -> (f64, f64) {
        match self {
            Field::LeaseMs => (1_000.0, DAY_MS),
            Field::MaxAttempts => (1.0, 1_000.0),
            Field::BackoffInitialMs | Field::BackoffMaxMs => (0.0, 30.0 * DAY_MS),
            Field::BackoffMultiplier => (1.0, 100.0),
            Field::BackoffJitter => (0.0, 1.0),
            Field::MaxPayloadBytes => (1.0, 1_073_741_824.0),
            Field::RatePerSecond | Field::GroupRatePerSecond => (0.001, 100_000.0),
            Field::RateBurst | Field::GroupRateBurst => (1.0, 100_000.0),
            Field::MaxInFlight | Field::GroupMaxInFlight => (1.0, 1_000_000.0),
            Field::Paused | Field::GroupOrdered => (0.0, 1.0),
            Field::Strategy => (0.0, (Distribution::NAMES.len() - 1) as f64),
            Field::Weight => (1.0, 1_000.0),
            Field::CompletedTtlMs | Field::DeadTtlMs => (1_000.0, 365.0 * DAY_MS),
            Field::DedupWindowMs => (1_000.0, 30.0 * DAY_MS),
            Field::StartTtlMs => (1.0, 365.0 * DAY_MS),
            Field::WorkersWindowMs => (60_000.0, 3_600_000.0),
        }
    }

    /// What is wrong with `value` for this field, if anything.
    pub fn problem(self, value: f64) -> Option<String> {
        let (min, max) = self.bounds();
        let whole = value.fract() == 0.0;
        match self.kind() {
            Kind::Boolean => (value != 0.0 && value != 1.0).then(|| "must be true or false".into()),
            Kind::Integer if !whole || !(min..=max).contains(&value) => {
                Some(format!("must be a whole number from {min} to {max}"))
            }
            Kind::Number if !(min..=max).contains(&value) => {
                Some(format!("must be a number from {min} to {max}"))
            }
            Kind::Choice(names) if !whole || !(min..=max).contains(&value) => {
                Some(format!("must be one of {}", names.join(", ")))
            }
            _ => None,
        }
    }
}

/// Retry delays: `initial_ms × multiplier^(attempt-1)`, capped at `max_ms`, spread by ±`jitter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = crate::model::examples::backoff)]
pub struct Backoff {
    /// Delay after the first failed attempt (0 to 30 days, at most `max_ms`).
    pub initial_ms: u64,
    /// Growth of the delay per attempt (1 to 100).
    pub multiplier: f64,
    /// Longest delay (0 to 30 days).
    pub max_ms: u64,
    /// Random spread of each delay, as a fraction (0 to 1; 0.2 = ±20%).
    pub jitter: f64,
}

/// Leases granted per second from one queue, across all instances (a token bucket in Redis,
/// refilled by the Redis clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"per_second": 10.0, "burst": 20}))]
pub struct RateLimit {
    /// Leases per second, on average (0.001 to 100000).
    pub per_second: f64,
    /// Most leases granted at once after a quiet spell (1 to 100000).
    pub burst: u64,
}

impl RateLimit {
    /// A rate with its default burst: one second's worth, at least 1.
    pub fn per_second(per_second: f64) -> Self {
        Self {
            per_second,
            burst: per_second.ceil().max(1.0) as u64,
        }
    }
}

/// The distribution strategy: which ready task the next lease takes (README, "Distribution
/// strategies").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Highest priority first, oldest first among equals, across the queue.
    #[default]
    Priority,
    /// The groups with ready tasks take turns in proportion to their weights; within a group,
    /// priority then oldest first. Tasks without a group take their turns as one group.
    Fair,
}

impl Distribution {
    /// The names, in the order of the numbers Redis stores them as.
    pub const NAMES: [&'static str; 2] = ["priority", "fair"];

    fn from_index(index: f64) -> Self {
        if index == 1.0 {
            Distribution::Fair
        } else {
            Distribution::Priority
        }
    }

    fn index(self) -> f64 {
        match self {
            Distribution::Priority => 0.0,
            Distribution::Fair => 1.0,
        }
    }
}

/// The limits every task group of the queue has (README, "Distribution strategies"). They
/// apply to tasks that name a `group`; tasks without one are held only by the queue's limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"max_in_flight": 2, "rate_limit": {"per_second": 5.0, "burst": 5}, "ordered": false}))]
pub struct GroupLimits {
    /// Most tasks of one group leased at once (1 to 1000000), or `null` for no limit.
    pub max_in_flight: Option<u64>,
    /// Leases per second from one group, across all instances, or `null` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// When true, a group's tasks run one at a time, in order: a failed attempt that will be
    /// retried holds its group until that task completes, dies or is cancelled.
    pub ordered: bool,
}

fn set_rate(limit: &mut Option<RateLimit>, per_second: f64) {
    limit
        .get_or_insert_with(|| RateLimit::per_second(per_second))
        .per_second = per_second;
}

fn set_burst(limit: &mut Option<RateLimit>, burst: u64) {
    limit
        .get_or_insert_with(|| RateLimit::per_second(1.0))
        .burst = burst;
}

/// A queue's effective dispatch policy: its own values on top of the server's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = crate::model::examples::policy)]
pub struct QueuePolicy {
    /// Lease length when neither the worker nor the task asks for one (1000 to 86400000 ms).
    pub lease_ms: u64,
    /// Attempts before a task is dead (1 to 1000), unless the task set its own at submit.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Largest payload or ack result, in bytes of JSON text (up to the server's own limit).
    pub max_payload_bytes: u64,
    /// Leases per second, or `null` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// Most tasks leased at once from this queue (1 to 1000000), or `null` for no limit.
    pub max_in_flight: Option<u64>,
    /// When true, nothing is leased from the queue; submits are still accepted.
    pub paused: bool,
    /// Share in weighted multi-queue leasing (1 to 1000).
    pub weight: u32,
    /// How long completed (and cancelled) tasks are kept (1000 ms to 365 days).
    pub completed_ttl_ms: u64,
    /// How long dead tasks are kept (1000 ms to 365 days).
    pub dead_ttl_ms: u64,
    /// How long `Idempotency-Key`s are remembered (1000 ms to 30 days).
    pub dedup_window_ms: u64,
    pub strategy: Distribution,
    pub groups: GroupLimits,
    /// A ready task not leased within this long (1 ms to 365 days) of becoming ready is not
    /// run: it goes to `dead` with an `expired` entry in its history. A task's own
    /// `start_within_ms` comes first. `null`: no start deadline.
    pub start_ttl_ms: Option<u64>,
    /// How long after its last call a worker is listed in the workers view and counts for
    /// explain (60000 to 3600000 ms, whole minutes of counts).
    pub workers_window_ms: u64,
}

impl QueuePolicy {
    /// The value of one field (`None` for a limit that is not set).
    pub fn get(&self, field: Field) -> Option<f64> {
        let b = &self.backoff;
        Some(match field {
            Field::LeaseMs => self.lease_ms as f64,
            Field::MaxAttempts => self.max_attempts.into(),
            Field::BackoffInitialMs => b.initial_ms as f64,
            Field::BackoffMultiplier => b.multiplier,
            Field::BackoffMaxMs => b.max_ms as f64,
            Field::BackoffJitter => b.jitter,
            Field::MaxPayloadBytes => self.max_payload_bytes as f64,
            Field::RatePerSecond => self.rate_limit.as_ref()?.per_second,
            Field::RateBurst => self.rate_limit.as_ref()?.burst as f64,
            Field::MaxInFlight => self.max_in_flight? as f64,
            Field::Paused => f64::from(u8::from(self.paused)),
            Field::Weight => self.weight.into(),
            Field::CompletedTtlMs => self.completed_ttl_ms as f64,
            Field::DeadTtlMs => self.dead_ttl_ms as f64,
            Field::DedupWindowMs => self.dedup_window_ms as f64,
            Field::Strategy => self.strategy.index(),
            Field::GroupMaxInFlight => self.groups.max_in_flight? as f64,
            Field::GroupRatePerSecond => self.groups.rate_limit.as_ref()?.per_second,
            Field::GroupRateBurst => self.groups.rate_limit.as_ref()?.burst as f64,
            Field::GroupOrdered => f64::from(u8::from(self.groups.ordered)),
            Field::StartTtlMs => self.start_ttl_ms? as f64,
            Field::WorkersWindowMs => self.workers_window_ms as f64,
        })
    }

    /// Sets one field.
    pub fn set(&mut self, field: Field, value: f64) {
        let whole = value.max(0.0).round() as u64;
        let b = &mut self.backoff;
        match field {
            Field::LeaseMs => self.lease_ms = whole,
            Field::MaxAttempts => self.max_attempts = whole as u32,
            Field::BackoffInitialMs => b.initial_ms = whole,
            Field::BackoffMultiplier => b.multiplier = value,
            Field::BackoffMaxMs => b.max_ms = whole,
            Field::BackoffJitter => b.jitter = value,
            Field::MaxPayloadBytes => self.max_payload_bytes = whole,
            Field::RatePerSecond => set_rate(&mut self.rate_limit, value),
            Field::RateBurst => set_burst(&mut self.rate_limit, whole),
            Field::MaxInFlight => self.max_in_flight = Some(whole),
            Field::Paused => self.paused = value != 0.0,
            Field::Weight => self.weight = whole as u32,
            Field::CompletedTtlMs => self.completed_ttl_ms = whole,
            Field::DeadTtlMs => self.dead_ttl_ms = whole,
            Field::DedupWindowMs => self.dedup_window_ms = whole,
            Field::Strategy => self.strategy = Distribution::from_index(value),
            Field::GroupMaxInFlight => self.groups.max_in_flight = Some(whole),
            Field::GroupRatePerSecond => set_rate(&mut self.groups.rate_limit, value),
            Field::GroupRateBurst => set_burst(&mut self.groups.rate_limit, whole),
            Field::GroupOrdered => self.groups.ordered = value != 0.0,
            Field::StartTtlMs => self.start_ttl_ms = Some(whole),
            Field::WorkersWindowMs => self.workers_window_ms = whole,
        }
    }

    /// This policy with `overrides` on top.
    pub fn with(&self, overrides: &[(Field, f64)]) -> QueuePolicy {
        let mut policy = self.clone();
        for (field, value) in overrides {
            policy.set(*field, *value);
        }
        policy
    }

    /// Every value out of its bounds, and every rule between fields broken, named by field.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Field::ALL
            .into_iter()
            .filter_map(|field| {
                let problem = field.problem(self.get(field)?)?;
                Some(FieldError::new(field.name(), problem))
            })
            .collect();
        if self.backoff.initial_ms > self.backoff.max_ms {
            errors.push(FieldError::new(
                Field::BackoffInitialMs.name(),
                "must not exceed backoff.max_ms",
            ));
        }
        errors
    }
}
