//! `scripts/ack.lua`: complete a leased task, with or without a result; `scripts/ack_batch.lua`:
//! many at once, each fenced by its own lease. Both run `ack_one` (`scripts/prelude/ack_one.lua`).

use serde_json::value::RawValue;

use super::{Args, Op, Reply, into_array, into_string};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{ACK, ACK_BATCH, ACK_BATCH_WITH_RESULTS, ACK_WITH_RESULT, ScriptDef};
use crate::store::types::{AckItem, FinishOutcome};

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

/// Up to `BATCH_ITEMS_MAX` acks in one script.
pub struct AckBatch<'a> {
    pub items: &'a [AckItem],
}

impl Op for AckBatch<'_> {
    type Outcome = Vec<FinishOutcome>;

    fn script(&self) -> &'static ScriptDef {
        if self.items.iter().any(|item| item.result.is_some()) {
            &ACK_BATCH_WITH_RESULTS
        } else {
            &ACK_BATCH
        }
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        for item in self.items {
            a.push(item.id.to_string())
                .push(item.lease_id.as_str())
                .push(item.result.as_deref().map_or("", RawValue::get));
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<FinishOutcome>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let items = into_array(reply.next()?)?;
        if items.len() != self.items.len() {
            return Err(StoreError::Corrupt(format!(
                "{} answers to {} acks",
                items.len(),
                self.items.len()
            )));
        }
        items
            .into_iter()
            .map(|item| {
                let mut parts = into_array(item)?.into_iter();
                let status = into_string(parts.next().unwrap_or_default())?;
                reply.finish_item(&status, parts.next().unwrap_or_default())
            })
            .collect()
    }
}
