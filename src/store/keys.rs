//! Redis key names. The only place keys are built: `{prefix}:{q:<queue>}:<role>`.
//!
//! Every key of one queue carries the same hash tag `{q:<queue>}`, so on Redis Cluster all of a
//! queue's keys live in one slot and each per-queue script runs there without CROSSSLOT errors.
//! Queue names cannot contain braces (see `QueueName`), so a name cannot break out of its tag.
//! Scripts receive the keys of the roles they declare (`script.rs`), in that order.

use crate::model::QueueName;

/// Every role a queue's key can have, with what it holds. A script's declared roles must come
/// from this list (a unit test checks).
#[cfg_attr(not(test), allow(dead_code))] // Read by tests; the map of a queue's keys.
pub const ROLES: [(&str, &str); 14] = [
    ("meta", "hash: task id -> task metadata (JSON)"),
    (
        "payload",
        "hash: task id -> payload (JSON text as received)",
    ),
    (
        "result",
        "hash: task id -> ack result (JSON text as received)",
    ),
    (
        "errors",
        "hash: task id -> failed attempts, one JSON object per line",
    ),
    ("ready", "zset: `<arrival>:<id>` by -priority"),
    (
        "scheduled",
        "zset: delayed or backing-off task ids by run_at (ms)",
    ),
    ("leased", "zset: leased task ids by lease deadline (ms)"),
    ("completed", "zset: completed task ids by purge time (ms)"),
    ("dead", "zset: dead task ids by purge time (ms)"),
    ("cancelled", "zset: cancelled task ids by purge time (ms)"),
    (
        "quarantine",
        "zset: unreadable task ids by when they were moved aside (ms)",
    ),
    (
        "stats",
        "hash: running totals and the arrival counter; exists while the queue does",
    ),
    (
        "requests",
        "hash: lease request id -> the leases it granted",
    ),
    (
        "request_expiry",
        "zset: lease request ids by when they may be forgotten (ms)",
    ),
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

    /// The key of `queue` with `role`.
    pub fn queue_key(&self, queue: &QueueName, role: &str) -> String {
        format!("{}:{{q:{}}}:{role}", self.prefix, queue)
    }

    /// The set of queue names, read by the reaper and the queue listing. It is deliberately not
    /// hash-tagged to any queue, so no per-queue script touches it; it is written in its own
    /// commands and rebuilt by the reaper from the queues' `stats` keys if it is lost.
    pub fn queue_registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// A `SCAN MATCH` pattern that finds every queue's `stats` key, the key that exists exactly
    /// as long as the queue does.
    pub fn stats_pattern(&self) -> String {
        format!("{}:{{q:*}}:stats", self.prefix)
    }

    /// The queue a key matched by `stats_pattern` belongs to.
    pub fn queue_of_stats_key(&self, key: &str) -> Option<QueueName> {
        let name = key
            .strip_prefix(&self.prefix)?
            .strip_prefix(":{q:")?
            .strip_suffix("}:stats")?;
        QueueName::parse(name).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_key_shares_the_queue_hash_tag() {
        let queue = QueueName::parse("emails").expect("valid name");
        let keys = KeySpace::new("tg");
        for (role, _) in ROLES {
            assert_eq!(
                keys.queue_key(&queue, role),
                format!("tg:{{q:emails}}:{role}")
            );
        }
    }

    #[test]
    fn stats_keys_name_their_queue() {
        let keys = KeySpace::new("tg");
        let queue = QueueName::parse("a.b-c_1").expect("valid name");
        let key = keys.queue_key(&queue, "stats");
        assert_eq!(keys.queue_of_stats_key(&key), Some(queue));
        assert_eq!(keys.queue_of_stats_key("tg:{q:a}:meta"), None);
        assert_eq!(keys.queue_of_stats_key("other:{q:a}:stats"), None);
        assert_eq!(keys.queue_of_stats_key("tg:{q:a:b}:stats"), None);
    }
}
