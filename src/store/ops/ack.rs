//! `scripts/ack.lua`: complete a leased task, with or without a result.

use serde_json::value::RawValue;

use super::{Args, Op, Reply};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{ACK, ACK_WITH_RESULT, ScriptDef};
use crate::store::types::FinishOutcome;

pub struct Ack<'a> {
    pub id: TaskId,
    pub lease_id: &'a str,
    pub result: Option<&'a RawValue>,
}

impl Op for Ack<'_> {
    type Outcome = FinishOutcome;

    /// Storing a result adds data, so only a result-free ack may run while Redis is full.
    fn script(&self) -> &'static ScriptDef {
        if self.result.is_some() {
            &ACK_WITH_RESULT
        } else {
            &ACK
        }
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.id.to_string())
            .push(self.lease_id)
            .push(self.result.map_or("", RawValue::get));
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<FinishOutcome, StoreError> {
        reply.finish_outcome()
    }
}
