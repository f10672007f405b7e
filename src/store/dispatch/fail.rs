//! `fail.lua`: record a failed attempt; retried after backoff, or dead.

use super::types::{Failure, FinishOutcome};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

/// A fail with an error text of at most `SHORT_ERROR_BYTES`.
pub static FAIL: ScriptDef = script!(
    "fail" in "dispatch",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

/// A fail with a longer error text adds data.
pub static FAIL_WITH_LONG_ERROR: ScriptDef = script!(
    "fail" in "dispatch",
    "",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

/// Longest error text a fail may record while Redis is out of memory.
pub const SHORT_ERROR_BYTES: usize = 256;

pub struct Fail<'a> {
    pub id: TaskId,
    pub lease_id: &'a str,
    /// Already cut to `ERROR_MESSAGE_MAX` bytes.
    pub failure: &'a Failure,
}

impl Op for Fail<'_> {
    type Outcome = FinishOutcome;

    fn batch_weight(&self) -> Option<usize> {
        Some(1)
    }

    /// A long error text adds data, so only a short one may be recorded while Redis is full.
    fn script(&self) -> &'static ScriptDef {
        if self.failure.error.len() > SHORT_ERROR_BYTES {
            &FAIL_WITH_LONG_ERROR
        } else {
            &FAIL
        }
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string())
            .push(self.lease_id)
            .push(self.failure.error.as_str())
            .flag(self.failure.retry)
            .opt(self.failure.retry_in_ms);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<FinishOutcome, StoreError> {
        super::finish::outcome(reply)
    }
}
