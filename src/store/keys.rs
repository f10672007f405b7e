//! Redis key names. The only place keys are built: `{prefix}:{q:<queue>}:<role>`.
//!
//! Every key of one queue carries the same hash tag `{q:<queue>}`, so on Redis Cluster all of a
//! queue's keys live in one slot and each per-queue script runs there without CROSSSLOT errors.
//! Queue names cannot contain braces (see `QueueName`), so a name cannot break out of its tag.

use crate::model::QueueName;

/// The roles of a queue's keys, in the order every script receives them as KEYS.
/// `scripts/prelude.lua` names them in this same order.
const QUEUE_KEY_ROLES: [&str; 11] = [
    "meta",      // hash: task id -> task metadata (JSON)
    "payload",   // hash: task id -> payload (JSON text)
    "result",    // hash: task id -> ack result (JSON text)
    "errors",    // hash: task id -> error history (JSON array)
    "ready",     // zset: ready task ids by (priority, arrival)
    "scheduled", // zset: delayed or backing-off task ids by run_at (ms)
    "leased",    // zset: leased task ids by lease deadline (ms)
    "completed", // zset: completed task ids by purge time (ms)
    "dead",      // zset: dead task ids by purge time (ms)
    "cancelled", // zset: cancelled task ids by purge time (ms)
    "stats",     // hash: running totals and the arrival sequence
];

/// Builds key names under one prefix.
#[derive(Debug, Clone)]
pub struct KeySpace {
    prefix: String,
}

impl KeySpace {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// Every key of `queue`, in the order the scripts expect them.
    pub fn queue_keys(&self, queue: &QueueName) -> Vec<String> {
        QUEUE_KEY_ROLES
            .iter()
            .map(|role| format!("{}:{{q:{}}}:{role}", self.prefix, queue))
            .collect()
    }

    /// The set of known queue names, read by the reaper. It is deliberately not hash-tagged to
    /// any queue, so no per-queue script touches it; it is written in its own command.
    pub fn queue_registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_key_shares_the_queue_hash_tag() {
        let queue = QueueName::parse("emails").expect("valid name");
        let keys = KeySpace::new("tg").queue_keys(&queue);
        assert_eq!(keys[0], "tg:{q:emails}:meta");
        assert_eq!(keys.len(), QUEUE_KEY_ROLES.len());
        assert!(keys.iter().all(|k| k.starts_with("tg:{q:emails}:")));
    }
}
