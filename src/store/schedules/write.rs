//! `write.lua` (create or replace a schedule) and `delete.lua`, each atomic with its version
//! check.

use super::types::{DeleteOutcome, ScheduleRecord, WriteOutcome};
use crate::model::schedule::{SCHEDULES_MAX, ScheduleName};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, optional_int};
use crate::store::script::{ScriptDef, script};

/// Adds data: refused whole when Redis is out of memory.
pub static WRITE: ScriptDef = script!(
    "write" in "schedules",
    "",
    keys: ["schedules", "snames", "sdue"],
    policy: [],
    prelude: [],
);

/// The same, for a rewrite about the size of the record it replaces (a pause, a resume, a new
/// cron: at most `IN_PLACE_SLACK` bytes larger): it works when Redis is full, so an operator
/// can always stop or resume a schedule.
pub static WRITE_IN_PLACE: ScriptDef = script!(
    "write" in "schedules",
    " flags=allow-oom",
    keys: ["schedules", "snames", "sdue"],
    policy: [],
    prelude: [],
);

/// Frees data, so it works when Redis is full.
pub static DELETE: ScriptDef = script!(
    "delete" in "schedules",
    " flags=allow-oom",
    keys: ["schedules", "snames", "sdue", "sruns"],
    policy: [],
    prelude: [],
);

/// How much larger than the record it replaces a rewrite may be and still work when Redis is
/// full (room for `updated_by`, a longer cron expression).
const IN_PLACE_SLACK: usize = 64;

pub struct WriteSchedule<'a> {
    pub name: &'a ScheduleName,
    /// The stored record's size in bytes, when the schedule exists: a record no larger may be
    /// written when Redis is full.
    pub replaces_bytes: Option<usize>,
    pub expected_version: Option<u64>,
    pub record: &'a ScheduleRecord,
    pub next: Option<i64>,
    /// The write keeps the schedule's cadence: its place in the due set, if any, stays.
    pub keeps_cadence: bool,
}

impl WriteSchedule<'_> {
    fn text(&self) -> String {
        serde_json::to_string(self.record).unwrap_or_default()
    }
}

impl Op for WriteSchedule<'_> {
    type Outcome = WriteOutcome;

    fn script(&self) -> &'static ScriptDef {
        match self.replaces_bytes {
            Some(stored) if self.text().len() <= stored + IN_PLACE_SLACK => &WRITE_IN_PLACE,
            _ => &WRITE,
        }
    }

    fn args(&self, a: &mut Args<'_>) {
        let record = self.text();
        a.push(self.name.as_str())
            .opt(self.expected_version)
            .push(record)
            .opt(self.next)
            .push(SCHEDULES_MAX)
            .flag(self.keeps_cadence);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<WriteOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => WriteOutcome::Written {
                version: reply.u64()?,
                next_due: optional_int(reply.next()?)?,
            },
            "stale" => WriteOutcome::Stale {
                version: reply.u64()?,
            },
            "full" => WriteOutcome::Full {
                limit: reply.u64()?,
            },
            _ => return Err(reply.unexpected()),
        })
    }
}

pub struct DeleteSchedule<'a> {
    pub name: &'a ScheduleName,
    pub expected_version: Option<u64>,
}

impl Op for DeleteSchedule<'_> {
    type Outcome = DeleteOutcome;

    fn script(&self) -> &'static ScriptDef {
        &DELETE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.name.as_str()).opt(self.expected_version);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<DeleteOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => DeleteOutcome::Deleted,
            "stale" => DeleteOutcome::Stale {
                version: reply.u64()?,
            },
            "not_found" => DeleteOutcome::NotFound,
            _ => return Err(reply.unexpected()),
        })
    }
}
