//! Why Redis is unavailable, in words, and the outage log: an outage is logged once when it
//! starts, at most every `SUMMARY_EVERY` while it lasts (with how many calls failed), and once
//! when it ends, instead of a line per failed request or reaper tick.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a lasting outage is summarized in the log.
const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// What kind of trouble made Redis unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No connection could be opened or kept (refused, reset, DNS).
    Unreachable,
    /// A command got no answer within the response timeout.
    Timeout,
    /// Redis is running a long script (`BUSY`).
    Busy,
    /// Redis is loading its data set after a start (`LOADING`).
    Loading,
    /// Redis reached `maxmemory` and refuses calls that add data (`OOM`).
    Full,
    /// Redis is a replica or a cluster is failing over (`READONLY`, `TRYAGAIN`, ...).
    NotWritable,
    /// Redis refused taskgate's credentials (`WRONGPASS`, `NOAUTH`).
    Credentials,
    /// Redis refused to set the connection up (a database number it does not have, ...).
    Refused,
}

impl Cause {
    pub fn words(self) -> &'static str {
        match self {
            Self::Unreachable => "cannot connect to Redis",
            Self::Timeout => "Redis did not answer within the response timeout",
            Self::Busy => "Redis is busy running a long script",
            Self::Loading => "Redis is loading its data",
            Self::Full => "Redis is out of memory (maxmemory reached)",
            Self::NotWritable => "Redis does not accept writes (a replica, or failing over)",
            Self::Credentials => {
                "Redis refused taskgate's credentials: check the user and password in \
                 TASKGATE_REDIS_URL"
            }
            Self::Refused => {
                "Redis refused to set up the connection: check TASKGATE_REDIS_URL (for example \
                 its database number)"
            }
        }
    }
}

/// Redis could not serve a call: the kind of trouble, and what Redis or the network said.
#[derive(Debug, Clone)]
pub struct Unavailable {
    pub cause: Cause,
    pub detail: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.cause.words(), self.detail)
    }
}

/// Tracks whether Redis is in an outage, and logs its start, progress and end.
pub struct OutageLog {
    /// Where Redis is, without credentials, for the log.
    redis: String,
    down: AtomicBool,
    current: Mutex<Option<Outage>>,
}

struct Outage {
    since: Instant,
    cause: Cause,
    failures: u64,
    failures_since_summary: u64,
    last_summary: Instant,
}

impl OutageLog {
    pub fn new(redis: String) -> Self {
        Self {
            redis,
            down: AtomicBool::new(false),
            current: Mutex::new(None),
        }
    }

    /// A call failed because Redis is unavailable.
    pub fn failed(&self, err: &Unavailable) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let now = Instant::now();
        match current.as_mut() {
            None => {
                tracing::warn!(
                    redis = %self.redis,
                    cause = err.cause.words(),
                    detail = %err.detail,
                    "Redis is unavailable: requests get 503 until it is back"
                );
                *current = Some(Outage {
                    since: now,
                    cause: err.cause,
                    failures: 1,
                    failures_since_summary: 1,
                    last_summary: now,
                });
                self.down.store(true, Ordering::Release);
            }
            Some(outage) => {
                outage.failures += 1;
                outage.failures_since_summary += 1;
                if outage.cause != err.cause
                    || now.duration_since(outage.last_summary) >= SUMMARY_EVERY
                {
                    tracing::warn!(
                        redis = %self.redis,
                        cause = err.cause.words(),
                        detail = %err.detail,
                        for_s = now.duration_since(outage.since).as_secs(),
                        failed_calls = outage.failures_since_summary,
                        "Redis is still unavailable"
                    );
                    outage.cause = err.cause;
                    outage.failures_since_summary = 0;
                    outage.last_summary = now;
                }
            }
        }
    }

    /// A call that began at `started` succeeded: ends an outage that began before it, if
    /// there is one. (A call that began before the outage may finish after its first failure
    /// was logged; its success says nothing about Redis now.)
    pub fn succeeded(&self, started: Instant) {
        // The common case (no outage) costs one atomic load.
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if current
            .as_ref()
            .is_some_and(|outage| started < outage.since)
        {
            return;
        }
        if let Some(outage) = current.take() {
            self.down.store(false, Ordering::Release);
            tracing::info!(
                redis = %self.redis,
                after_ms = outage.since.elapsed().as_millis() as u64,
                failed_calls = outage.failures,
                "Redis is available again"
            );
        }
    }
}
