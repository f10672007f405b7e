//! `write.lua` (create or replace a schedule) and `delete.lua`, each atomic with its version
//! check.

use super::types::{DeleteOutcome, ScheduleRecord, WriteOutcome};
use crate::model::schedule::{SCHEDULES_MAX, ScheduleName};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

/// Adds data: refused whole when Redis is out of memory.
pub static WRITE: ScriptDef = script!(
    "write" in "schedules",
    "",
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

pub struct WriteSchedule<'a> {
    pub name: &'a ScheduleName,
    pub expected_version: Option<u64>,
    pub record: &'a ScheduleRecord,
    pub next: Option<i64>,
}

impl Op for WriteSchedule<'_> {
    type Outcome = WriteOutcome;

    fn script(&self) -> &'static ScriptDef {
        &WRITE
    }

    fn args(&self, a: &mut Args<'_>) {
        let record = serde_json::to_string(self.record).unwrap_or_default();
        a.push(self.name.as_str())
            .opt(self.expected_version)
            .push(record)
            .opt(self.next)
            .push(SCHEDULES_MAX);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<WriteOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => WriteOutcome::Written {
                version: reply.u64()?,
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
