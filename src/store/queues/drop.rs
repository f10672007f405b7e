//! `drop.lua`: delete a whole queue.

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

/// Deletes every key of the queue, so it is passed every role.
pub static DROP: ScriptDef = script!(
    "drop" in "queues",
    " flags=allow-oom",
    keys: task_keys + ["requests", "request_expiry", "idempotency", "idempotency_expiry",
        "history", "schedules", "snames", "sdue", "sruns", "kids", "flows", "fcheck"],
    policy: [],
    prelude: [],
);

pub struct Drop;

impl Op for Drop {
    /// How many keys were deleted.
    type Outcome = u64;

    fn script(&self) -> &'static ScriptDef {
        &DROP
    }

    fn args(&self, _: &mut Args<'_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<u64, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        reply.u64()
    }
}
