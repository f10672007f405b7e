//! The dead-letter scripts: `redrive.lua` (back to ready) and `purge_dead.lua`
//! (delete). Listing dead tasks is `list::ListTasks`.

use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

pub static REDRIVE: ScriptDef = script!(
    "redrive" in "queues",
    "",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

pub static PURGE_DEAD: ScriptDef = script!(
    "purge_dead" in "queues",
    " flags=allow-oom",
    keys: task_keys + ["kids"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
);

/// Redrives the listed dead tasks, or (with none listed) up to `oldest` of the oldest.
pub struct Redrive<'a> {
    pub ids: &'a [TaskId],
    pub oldest: u32,
}

impl Op for Redrive<'_> {
    /// (redriven, listed ids that were not dead)
    type Outcome = (u64, u64);

    fn script(&self) -> &'static ScriptDef {
        &REDRIVE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.oldest);
        for id in self.ids {
            a.push(id.to_string());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(u64, u64), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok((reply.u64()?, reply.u64()?))
    }
}

pub struct PurgeDead {
    pub most: u32,
}

impl Op for PurgeDead {
    /// (purged, dead tasks left)
    type Outcome = (u64, u64);

    fn script(&self) -> &'static ScriptDef {
        &PURGE_DEAD
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.most);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(u64, u64), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok((reply.u64()?, reply.u64()?))
    }
}
