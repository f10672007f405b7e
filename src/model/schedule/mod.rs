//! Recurring schedules (README, "Schedules"): what a schedule is (`ScheduleDef`: a cadence, the
//! task it submits, its window, pause and catch-up rule), its name, its bounds, and when it
//! fires (`ticks`). Plain values and pure functions, as `cron` is: the clock comes in as an
//! argument, so every rule is unit-tested.

mod ticks;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::{Cron, FieldError, Zone};
pub use ticks::{Cadence, Plan, Window, plan, runs_after};

/// Longest schedule name, in characters.
pub const SCHEDULE_NAME_MAX: usize = 128;
/// The pattern of a schedule name, as the document states it.
pub const SCHEDULE_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,128}$";
/// Shortest and longest `every_ms`: a tick a second at most (the sweep that fires them runs
/// every `TASKGATE_REAPER_INTERVAL_MS`, 500 ms by default), one a year at least.
pub const EVERY_MS_MIN: u64 = 1_000;
pub const EVERY_MS_MAX: u64 = 31_536_000_000;
/// Most schedules one queue may hold (each is a small record; the sweep finds due ones by
/// their next run time, so their number does not slow it).
pub const SCHEDULES_MAX: u64 = 10_000;
/// Largest payload a schedule's task may carry, in bytes of JSON text: a schedule is kept for
/// good, so its payload is bounded apart from the queue's `max_payload_bytes` (also checked,
/// at each run).
pub const SCHEDULE_PAYLOAD_MAX: usize = 65_536;
/// How long a tick's idempotency key is kept, ms: long enough for any instance that decided
/// the tick to have fired it or given up.
pub const SCHEDULE_TICK_KEY_MS: u64 = 3_600_000;
/// How many upcoming runs a schedule's view lists.
pub const NEXT_RUNS: usize = 5;
/// How many past runs a schedule keeps (with their tasks).
pub const LAST_RUNS: usize = 10;
/// A tick is on time when it fires before the schedule's next tick is due and within this
/// long of its time; otherwise it was missed (the service was down, or Redis was), and
/// `catch_up` decides.
pub const ON_TIME_MS: i64 = 60_000;
/// Most missed ticks one catch-up counts (for `missed` and the metrics); an outage of more
/// ticks than this counts this many.
pub const MISSED_COUNTED_MAX: u64 = 1_000;

/// A schedule's name: 1 to 128 characters of `A-Z a-z 0-9 . _ -` (as a queue's), not `.` or
/// `..`. No `:`, so that `…/schedules/{name}:trigger` reads one way only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScheduleName(String);

impl ScheduleName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // `.` and `..` are path segments an HTTP client resolves away: no one could reach them.
        let ok = !raw.is_empty()
            && raw != "."
            && raw != ".."
            && raw.len() <= SCHEDULE_NAME_MAX
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "name",
                "must be 1-128 characters of A-Z a-z 0-9 . _ - (not . or ..)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a schedule does with ticks it missed (README, "Schedules").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Missed ticks are dropped: the schedule goes on with its next tick.
    #[default]
    Skip,
    /// One run, for the newest missed tick.
    Latest,
}

/// A schedule as stored and fired: checked values only (the API checks a request into one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleDef {
    /// A cron expression (with `timezone`), or `None` with `every_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA zone of `cron`'s wall-clock times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    pub task: TaskTemplate,
    #[serde(default)]
    pub paused: bool,
    /// No tick before this time (ms since the epoch); an `every_ms` schedule counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<i64>,
    /// No tick after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<i64>,
    #[serde(default)]
    pub catch_up: CatchUp,
}

/// The task a schedule submits on each run: a submit's fields, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskTemplate {
    /// The payload, as the exact JSON text received.
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_within_ms: Option<u64>,
    /// Canonical requirements, `k=v,k=v` (`Requires::canonical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<String>,
}

impl ScheduleDef {
    /// Whether `other` has this cadence (expression, zone, interval and start), so an
    /// `every_ms` schedule keeps counting from where it did.
    pub fn same_cadence(&self, other: &ScheduleDef) -> bool {
        self.cron == other.cron
            && self.timezone == other.timezone
            && self.every_ms == other.every_ms
            && self.start_at == other.start_at
    }

    /// Its cadence, counting an `every_ms` schedule from `anchor_ms` (its `start_at`, or when it
    /// was written). `Err` names what no longer reads (a record written by another version).
    pub fn cadence(&self, anchor_ms: i64) -> Result<Cadence, String> {
        match (&self.cron, self.every_ms) {
            (Some(expr), None) => {
                let cron = Cron::parse(expr)?;
                let zone = Zone::parse(self.timezone.as_deref().unwrap_or("UTC"))?;
                Ok(Cadence::Cron(Box::new((cron, zone))))
            }
            (None, Some(every_ms)) if (EVERY_MS_MIN..=EVERY_MS_MAX).contains(&every_ms) => {
                Ok(Cadence::Every {
                    every_ms: every_ms as i64,
                    anchor_ms: self.start_at.unwrap_or(anchor_ms),
                })
            }
            _ => Err("a schedule has either cron or every_ms".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ScheduleName;

    #[test]
    fn schedule_names_follow_their_pattern_and_are_never_dot_segments() {
        for good in ["nightly", "a.b_c-9", "...", &"x".repeat(128)] {
            assert!(ScheduleName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a:b", "a b", "a/b", &"x".repeat(129)] {
            assert!(ScheduleName::parse(bad).is_err(), "{bad}");
        }
    }
}
