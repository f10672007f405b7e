//! What the schedules service keeps (`ScheduleRecord`, its run log) and gives back (a
//! schedule as read, pages, outcomes). Outcomes are not errors: a stale version or a full
//! queue is an answer the API turns into a status.

use serde::{Deserialize, Serialize};

use crate::model::ScheduleRunKind;
use crate::model::schedule::{Cadence, ScheduleDef, ScheduleName, Window};
use crate::store::tasks::SubmitOutcome;

/// A schedule as stored (`schedules` hash: `<version> <this as JSON>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub def: ScheduleDef,
    /// What an `every_ms` schedule without `start_at` counts its ticks from: when its cadence
    /// was last set (Redis clock, ms).
    pub anchor_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl ScheduleRecord {
    pub fn cadence(&self) -> Result<Cadence, String> {
        self.def.cadence(self.anchor_ms)
    }

    pub fn window(&self) -> Window {
        Window {
            start_at: self.def.start_at,
            end_at: self.def.end_at,
        }
    }

    /// Whether `other` ticks as this one does (same cadence, anchor and window), so a place
    /// this one has among its ticks is `other`'s too.
    pub fn ticks_like(&self, other: &ScheduleRecord) -> bool {
        self.def.same_cadence(&other.def)
            && self.def.end_at == other.def.end_at
            && self.anchor_ms == other.anchor_ms
    }

    /// The first tick after `now`, unless it is paused or has ended.
    pub fn next_after(&self, now: i64) -> Option<i64> {
        if self.def.paused {
            return None;
        }
        self.cadence().ok()?.next_after(now, self.window())
    }
}

/// A schedule read from Redis.
#[derive(Debug, Clone)]
pub struct ScheduleState {
    pub name: ScheduleName,
    pub version: u64,
    pub record: ScheduleRecord,
    /// Its runs, newest first (with their tasks' states, when read one by one).
    pub runs: RunLog,
    /// The tick it waits for, if it is due at all (not paused, not ended).
    pub next_due: Option<i64>,
    /// The size of its stored record, in bytes.
    pub stored_bytes: usize,
}

/// A schedule's runs and its counts (`sruns` hash: this as JSON, kept by `fire.lua`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunLog {
    /// `[tick, task id or false, kind, why]`, newest first: kind `tick` or `trigger`, and why
    /// the submit was refused when it was (older records wrote such runs as kind `failed`).
    #[serde(default, deserialize_with = "lenient_runs")]
    pub runs: Vec<Run>,
    #[serde(default)]
    pub fired: u64,
    #[serde(default)]
    pub missed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub triggered: u64,
}

/// One run of a schedule.
#[derive(Debug, Clone)]
pub struct Run {
    /// The tick it ran for (a trigger's: when it was triggered), ms.
    pub at: i64,
    pub task_id: Option<String>,
    pub kind: ScheduleRunKind,
    /// Why no task was submitted, for a failed run (the submit's refusal).
    pub error: Option<String>,
    /// The state its task is in now (`None`: not read, or the task is gone).
    pub state: Option<String>,
}

/// Reads the runs as `fire.lua` writes them, skipping any entry another version wrote
/// differently rather than failing the whole read.
fn lenient_runs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Run>, D::Error> {
    let raw: Vec<serde_json::Value> = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items,
        _ => Vec::new(),
    };
    Ok(raw
        .iter()
        .filter_map(|entry| {
            let parts = entry.as_array()?;
            let kind = match parts.get(2)?.as_str()? {
                "tick" | "failed" => ScheduleRunKind::Tick,
                "trigger" => ScheduleRunKind::Trigger,
                _ => return None,
            };
            Some(Run {
                at: parts.first()?.as_f64()? as i64,
                task_id: parts.get(1).and_then(|v| v.as_str()).map(str::to_owned),
                kind,
                error: parts.get(3).and_then(|v| v.as_str()).map(str::to_owned),
                state: None,
            })
        })
        .collect())
}

/// A read of one schedule, with the Redis time it was read at.
#[derive(Debug)]
pub struct ScheduleRead {
    pub now_ms: i64,
    pub schedule: Option<Stored>,
}

/// A schedule's entry: its version always; its record and runs when they read.
#[derive(Debug)]
pub enum Stored {
    Readable(Box<ScheduleState>),
    /// Its record could not be read (written by another version, or damaged): it can be
    /// replaced or deleted, not fired.
    Unreadable {
        version: u64,
        why: String,
    },
}

impl Stored {
    pub fn version(&self) -> u64 {
        match self {
            Self::Readable(state) => state.version,
            Self::Unreadable { version, .. } => *version,
        }
    }
}

/// One page of schedules, by name.
#[derive(Debug)]
pub struct SchedulePage {
    pub now_ms: i64,
    pub schedules: Vec<ScheduleState>,
    /// The last name of this page, when another follows.
    pub next: Option<ScheduleName>,
}

/// How a write ended.
#[derive(Debug)]
pub enum WriteOutcome {
    Written {
        version: u64,
        /// The tick it waits for now (`None`: paused or ended).
        next_due: Option<i64>,
    },
    /// The schedule was at another version (the one given, or the one read first).
    Stale { version: u64 },
    /// The queue holds `SCHEDULES_MAX` schedules already.
    Full { limit: u64 },
}

/// How a delete ended.
#[derive(Debug)]
pub enum DeleteOutcome {
    Deleted,
    Stale { version: u64 },
    NotFound,
}

/// How a trigger ended.
#[derive(Debug)]
pub enum TriggerOutcome {
    /// The task it submitted (or why the submit was refused), and the size of its payload.
    Ran {
        outcome: SubmitOutcome,
        payload_bytes: usize,
    },
    NotFound,
    /// Its record cannot be read.
    Unreadable,
    /// It was written again each time it was read to be run.
    Busy,
}
