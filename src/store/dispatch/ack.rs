//! `ack.lua`: complete a leased task, with or without a result; `ack_batch.lua`:
//! many at once, each fenced by its own lease. Both run `ack_one` (`prelude/ack_one.lua`).

use serde_json::value::RawValue;

use super::types::{AckItem, FinishOutcome};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::script::{ScriptDef, script};

/// An ack without a result only shrinks state.
pub static ACK: ScriptDef = script!(
    "ack" in "dispatch",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle + ["max_payload_bytes"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "ack_one"],
);

/// An ack that stores a result adds data.
pub static ACK_WITH_RESULT: ScriptDef = script!(
    "ack" in "dispatch",
    "",
    keys: task_keys,
    policy: lifecycle + ["max_payload_bytes"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "ack_one"],
);

/// Many acks at once; with no results among them, it only shrinks state.
pub static ACK_BATCH: ScriptDef = script!(
    "ack_batch" in "dispatch",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle + ["max_payload_bytes"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "ack_one"],
);

/// Many acks at once, some of them storing results.
pub static ACK_BATCH_WITH_RESULTS: ScriptDef = script!(
    "ack_batch" in "dispatch",
    "",
    keys: task_keys,
    policy: lifecycle + ["max_payload_bytes"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "ack_one"],
);

pub struct Ack<'a> {
    pub id: TaskId,
    pub lease_id: &'a str,
    pub result: Option<&'a RawValue>,
}

impl Op for Ack<'_> {
    type Outcome = FinishOutcome;

    fn batch_weight(&self) -> Option<usize> {
        Some(1)
    }

    /// Storing a result adds data, so only a result-free ack may run while Redis is full.
    fn script(&self) -> &'static ScriptDef {
        if self.result.is_some() {
            &ACK_WITH_RESULT
        } else {
            &ACK
        }
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string())
            .push(self.lease_id)
            .push(self.result.map_or("", RawValue::get));
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<FinishOutcome, StoreError> {
        super::finish::outcome(reply)
    }
}

/// Up to `BATCH_ITEMS_MAX` acks in one script.
pub struct AckBatch<'a> {
    pub items: &'a [AckItem],
}

impl Op for AckBatch<'_> {
    type Outcome = Vec<FinishOutcome>;

    fn batch_weight(&self) -> Option<usize> {
        Some(self.items.len())
    }

    fn script(&self) -> &'static ScriptDef {
        if self.items.iter().any(|item| item.result.is_some()) {
            &ACK_BATCH_WITH_RESULTS
        } else {
            &ACK_BATCH
        }
    }

    fn args(&self, a: &mut Args<'_>) {
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
                super::finish::item(reply, &status, parts.next().unwrap_or_default())
            })
            .collect()
    }
}
