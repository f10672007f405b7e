//! `scripts/reap.lua`: one bounded sweep of a queue.

use super::{Args, Op, Reply};
use crate::store::StoreError;
use crate::store::script::{REAP, ScriptDef};
use crate::store::types::ReapReport;

pub struct Reap;

impl Op for Reap {
    type Outcome = ReapReport;

    fn script(&self) -> &'static ScriptDef {
        &REAP
    }

    fn args(&self, _: &mut Args<'_, '_>) {}

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
        })
    }
}
