//! `scripts/fail.lua`: record a failed attempt; retried after backoff, or dead.

use super::{Args, Op, Reply};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{FAIL, FAIL_WITH_LONG_ERROR, SHORT_ERROR_BYTES, ScriptDef};
use crate::store::types::{Failure, FinishOutcome};

pub struct Fail<'a> {
    pub id: TaskId,
    pub lease_id: &'a str,
    /// Already cut to `ERROR_MESSAGE_MAX` bytes.
    pub failure: &'a Failure,
}

impl Op for Fail<'_> {
    type Outcome = FinishOutcome;

    /// A long error text adds data, so only a short one may be recorded while Redis is full.
    fn script(&self) -> &'static ScriptDef {
        if self.failure.error.len() > SHORT_ERROR_BYTES {
            &FAIL_WITH_LONG_ERROR
        } else {
            &FAIL
        }
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.id.to_string())
            .push(self.lease_id)
            .push(self.failure.error.as_str())
            .flag(self.failure.retry)
            .opt(self.failure.retry_in_ms);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<FinishOutcome, StoreError> {
        reply.finish_outcome()
    }
}
