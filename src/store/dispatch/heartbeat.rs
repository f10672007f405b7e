//! `heartbeat.lua`: extend a live lease.

use super::types::HeartbeatOutcome;
use crate::model::{TaskId, rfc3339_ms};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, remaining_ms};
use crate::store::script::{ScriptDef, script};

/// A heartbeat alone changes no size, so it runs while Redis is full: a worker keeps its
/// lease whatever the memory.
pub static HEARTBEAT: ScriptDef = script!(
    "heartbeat" in "dispatch",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

/// A heartbeat with a progress report adds data (up to 4 KiB a task), so Redis refuses it
/// while full, like an ack that stores a result; the lease is then extended without the report
/// (`Dispatch::heartbeat`).
pub static HEARTBEAT_WITH_PROGRESS: ScriptDef = script!(
    "heartbeat" in "dispatch",
    "",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

pub struct Heartbeat<'a> {
    pub id: TaskId,
    pub lease_id: &'a str,
    pub lease_ms: Option<u64>,
    /// A progress report (JSON text) to keep on the task.
    pub progress: Option<&'a str>,
}

impl Op for Heartbeat<'_> {
    type Outcome = HeartbeatOutcome;

    fn batch_weight(&self) -> Option<usize> {
        Some(1)
    }

    fn script(&self) -> &'static ScriptDef {
        if self.progress.is_some() {
            &HEARTBEAT_WITH_PROGRESS
        } else {
            &HEARTBEAT
        }
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string())
            .push(self.lease_id)
            .opt(self.lease_ms)
            .opt(self.progress);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<HeartbeatOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => {
                let until = reply.int()?;
                HeartbeatOutcome::Extended {
                    expires_at: rfc3339_ms(until),
                    expires_in_ms: remaining_ms(until, reply.now_ms),
                    progress_dropped: false,
                }
            }
            "lease_lost" => HeartbeatOutcome::LeaseLost,
            "not_found" => HeartbeatOutcome::NotFound,
            _ => return Err(reply.unexpected()),
        })
    }
}
