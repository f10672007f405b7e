//! `cancel.lua`: cancel a scheduled, ready or leased task.

use super::types::CancelOutcome;
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

pub static CANCEL: ScriptDef = script!(
    "cancel" in "tasks",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

pub struct Cancel {
    pub id: TaskId,
}

impl Op for Cancel {
    type Outcome = CancelOutcome;

    fn script(&self) -> &'static ScriptDef {
        &CANCEL
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string());
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<CancelOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => CancelOutcome::Cancelled(Box::new(reply.readable_task()?)),
            "replayed" => CancelOutcome::AlreadyCancelled(Box::new(reply.readable_task()?)),
            "finished" => CancelOutcome::Finished(Box::new(reply.readable_task()?)),
            "not_found" => CancelOutcome::NotFound,
            _ => return Err(reply.unexpected()),
        })
    }
}
