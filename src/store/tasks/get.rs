//! `get.lua`: read one task, settling what is already due; `peek.lua`: read it
//! as stored, writing nothing.

use super::types::GetOutcome;
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

/// Settles what is already due, so a read is never stale; writes only to shrink or move.
pub static GET: ScriptDef = script!(
    "get" in "tasks",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

/// Reads a task as stored, settling nothing (event streams' periodic re-reads).
pub static PEEK: ScriptDef = script!(
    "peek" in "tasks",
    " flags=no-writes",
    keys: ["meta", "payload", "result", "progress", "errors", "ready", "ready_time", "scheduled", "deadlines", "leased",
        "completed", "dead", "cancelled", "quarantine", "stats", "policy", "parents", "depres"],
    policy: ["lease_ms", "max_attempts"],
    prelude: ["record"],
);

pub struct Get {
    pub id: TaskId,
    /// Settle what is due first (`get.lua`), or read the record as stored (`peek.lua`).
    pub settle: bool,
}

impl Op for Get {
    type Outcome = GetOutcome;

    fn script(&self) -> &'static ScriptDef {
        if self.settle { &GET } else { &PEEK }
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string());
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<GetOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => match reply.task()? {
                Some(record) => GetOutcome::Found(Box::new(record.task)),
                None => GetOutcome::Quarantined,
            },
            "not_found" => GetOutcome::NotFound,
            "quarantined" => GetOutcome::Quarantined,
            _ => return Err(reply.unexpected()),
        })
    }
}
