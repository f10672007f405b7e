//! `quarantine.lua`: move records the server could not read out of every index.

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

pub static QUARANTINE: ScriptDef = script!(
    "quarantine" in ".",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

pub struct Quarantine<'a> {
    /// (task id, why)
    pub records: &'a [(String, String)],
}

impl Op for Quarantine<'_> {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &QUARANTINE
    }

    fn args(&self, a: &mut Args<'_>) {
        for (id, why) in self.records {
            a.push(id.as_str()).push(why.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status == "ok" {
            Ok(())
        } else {
            Err(reply.unexpected())
        }
    }
}
