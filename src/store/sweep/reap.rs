//! `reap.lua`: one bounded sweep of a queue.

use super::types::ReapReport;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

pub static REAP: ScriptDef = script!(
    "reap" in "sweep",
    " flags=allow-oom",
    keys: task_keys + ["requests", "request_expiry", "idempotency", "idempotency_expiry",
        "history", "schedules", "snames", "sdue", "sruns", "kids", "flows", "fcheck"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "groups_mend", "requires", "workers", "lifecycle", "deps",
        "counts", "history"],
);

pub struct Reap;

impl Op for Reap {
    type Outcome = ReapReport;

    fn script(&self) -> &'static ScriptDef {
        &REAP
    }

    fn args(&self, _: &mut Args<'_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<ReapReport, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok(ReapReport {
            reclaimed: reply.int()?,
            promoted: reply.int()?,
            purged: reply.int()?,
            more: reply.int()? == 1,
            gone: reply.int()? == 1,
            counts: reply.counts()?,
            groups: reply.group_tally()?,
            schedules_due: reply.u64()?,
            schedules: reply.u64()?,
            outbox_due: reply.u64()?,
            links_due: reply.u64()?,
            flows_due: reply.u64()?,
            fired: 0,
        })
    }
}
