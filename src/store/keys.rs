//! Redis key names. The only place keys are built: `{prefix}:{q:<queue>}:<role>`.
//!
//! Every key of one queue carries the same hash tag `{q:<queue>}`, so on Redis Cluster all of a
//! queue's keys live in one slot and each per-queue script runs there without CROSSSLOT errors.
//! Queue names cannot contain braces (see `QueueName`), so a name cannot break out of its tag.
//! Scripts receive the keys of the roles they declare (`script.rs`), in that order.

use crate::model::QueueName;

/// Every role a queue's key can have, with what it holds. A script's declared roles must come
/// from this list (a unit test checks).
pub const ROLES: [(&str, &str); 52] = [
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
        "progress",
        "hash: task id -> the latest progress a heartbeat reported (JSON text as received)",
    ),
    (
        "errors",
        "hash: `<task id>#<slot>` -> one failed attempt (JSON)",
    ),
    ("ready", "zset: `<arrival>:<id>` by -priority"),
    (
        "ready_time",
        "zset: ready task ids by when they became ready (ms)",
    ),
    (
        "scheduled",
        "zset: delayed or backing-off task ids by run_at (ms)",
    ),
    (
        "deadlines",
        "zset: ready task ids that have a start deadline, by that deadline (ms)",
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
        "hash: running totals, the arrival counter and the rate limit's token bucket",
    ),
    (
        "workers",
        "zset: worker names by their last lease or heartbeat (ms)",
    ),
    (
        "wstats",
        "hash: worker name -> leases held and per-minute counts (prelude/workers.lua)",
    ),
    (
        "history",
        "hash: minute mod 1440 -> that minute's snapshot of totals, backlog and in-flight",
    ),
    (
        "policy",
        "hash: the queue's own policy values, `~version`, `~updated_at`, `~updated_by`",
    ),
    (
        "requests",
        "hash: lease request id -> the leases it granted",
    ),
    (
        "idempotency",
        "hash: Idempotency-Key -> `<task id> <fingerprint of the request>`",
    ),
    (
        "debounce",
        "hash: debounce key -> `<task id> <first submit ms>`, while that task waits to run",
    ),
    (
        "idempotency_expiry",
        "zset: Idempotency-Keys by when their dedup window ends (ms)",
    ),
    (
        "events",
        "pub/sub channel, not a key: what each call changed (tasks ready, leases ended)",
    ),
    (
        "request_expiry",
        "zset: lease request ids by when they may be forgotten (ms)",
    ),
    (
        "gready",
        "zset (lex): ready tasks with a group, `<group> <rank>` (prelude/groups.lua)",
    ),
    (
        "gheads",
        "zset: the next task of each group in the turns, by -priority",
    ),
    ("gturn", "zset: groups in the turns by their fair-turn pass"),
    (
        "gstate",
        "hash: group with ready tasks -> `t <its gheads member>` or `h` (held)",
    ),
    (
        "gleased",
        "zset (lex): leased tasks with a group, `<group> <id>`, counted per group",
    ),
    (
        "grate",
        "zset: rate-limited groups by when their token bucket is full again (ms)",
    ),
    (
        "gwait",
        "zset: groups held for rate tokens, by when they have one again (ms)",
    ),
    (
        "ghold",
        "hash: ordered group -> the task that holds it (out or being retried)",
    ),
    (
        "gconf",
        "hash: group -> its own limits, `~version`, `~updated_at`, `~updated_by` (JSON)",
    ),
    (
        "glive",
        "hash: group -> its live tasks (ready, scheduled or leased)",
    ),
    (
        "rready",
        "zset (lex): ready tasks without a group that require labels, `<requirements> <rank>`",
    ),
    (
        "rheads",
        "zset (lex): the next task of each group in the turns whose next task requires labels, `<requirements> <band><gheads member>`",
    ),
    (
        "rturn",
        "zset (lex): those groups by their fair-turn pass, `<requirements> <pass> <group>`",
    ),
    (
        "rsets",
        "hash: requirement set (`k=v,k=v`) -> its live tasks (prelude/requires.lua)",
    ),
    (
        "wlabels",
        "hash: worker name -> the labels of its last lease call (`k=v,k=v`)",
    ),
    (
        "gnames",
        "zset (lex): the groups with live tasks or overrides, by name",
    ),
    (
        "schedules",
        "hash: schedule name -> `<version> <record JSON>` (store/schedules)",
    ),
    ("snames", "zset (lex): the schedules, by name"),
    (
        "sdue",
        "zset: schedules that are not paused or ended, by their next tick (ms)",
    ),
    (
        "sruns",
        "hash: schedule name -> its last runs and run counts (JSON)",
    ),
    (
        "parents",
        "hash: task id -> the tasks it depends on, `[[queue, id], ...]` (store/deps)",
    ),
    (
        "depres",
        "hash: `<task id> <parent queue> <parent id>` -> that parent's outcome as delivered",
    ),
    (
        "dlink",
        "zset: waiting tasks by when their parents are next (re)checked (ms)",
    ),
    (
        "kids",
        "zset (lex): `<task id> <child queue> <child id>`: the tasks that wait for this queue's",
    ),
    (
        "outbox",
        "zset: finished tasks whose outcome their dependents have yet to get, by finish (ms)",
    ),
    (
        "flows",
        "hash: flow uuid -> `staging <ms>`, `aborted <ms>` or its record (JSON) (store/flows)",
    ),
    (
        "fcheck",
        "zset: the flows kept here by when the sweep next checks whether any task is left (ms)",
    ),
];

/// The key names of one queue, built in one buffer: a script call names 20 to 40 keys, and
/// formatting each anew was a fifth of the server's instructions per request (callgrind).
pub struct QueueKeys {
    name: String,
    /// Where the role starts: `<prefix>:{q:<queue>}:` comes before it.
    base: usize,
}

impl QueueKeys {
    /// The key with `role`, valid until the next call.
    pub fn key(&mut self, role: &str) -> &str {
        self.name.truncate(self.base);
        self.name.push_str(role);
        &self.name
    }

    /// The key with `role`, as its own string.
    pub fn into_key(mut self, role: &str) -> String {
        self.key(role);
        self.name
    }
}

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
        self.queue_keys(queue).into_key(role)
    }

    /// The keys of `queue`, one role at a time in one buffer (see `QueueKeys`).
    pub fn queue_keys(&self, queue: &QueueName) -> QueueKeys {
        let mut name = String::with_capacity(self.prefix.len() + queue.as_str().len() + 24);
        name.push_str(&self.prefix);
        name.push_str(":{q:");
        name.push_str(queue.as_str());
        name.push_str("}:");
        QueueKeys {
            base: name.len(),
            name,
        }
    }

    /// Where a replicated write's marker goes (`Conn::wait_replicas`): in the queue's Cluster
    /// slot (its hash tag), but outside its keys (`queue_keys_pattern` does not match it), so a
    /// marker never makes a queue exist; it expires on its own.
    pub fn replica_marker(&self, queue: &QueueName) -> String {
        format!("{}:replica-marker:{{q:{}}}", self.prefix, queue)
    }

    /// The set of queue names, read by the reaper and the queue listing. It is deliberately not
    /// hash-tagged to any queue, so no per-queue script touches it; it is written in its own
    /// commands and rebuilt by the reaper, which scans for any key of a queue
    /// (`queue_keys_pattern`), if it is lost.
    pub fn queue_registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// A `SCAN MATCH` pattern that finds the keys of every queue: a queue exists while any of
    /// its keys does.
    pub fn queue_keys_pattern(&self) -> String {
        format!("{}:{{q:*}}:*", self.prefix)
    }

    /// The queue a key matched by `queue_keys_pattern` belongs to.
    pub fn queue_of_key(&self, key: &str) -> Option<QueueName> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix(":{q:")?;
        let (name, role) = rest.split_once("}:")?;
        ROLES.iter().any(|(r, _)| *r == role).then_some(())?;
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
    fn queue_keys_name_their_queue() {
        let keys = KeySpace::new("tg");
        let queue = QueueName::parse("a.b-c_1").expect("valid name");
        for (role, _) in ROLES {
            let key = keys.queue_key(&queue, role);
            assert_eq!(keys.queue_of_key(&key), Some(queue.clone()), "{key}");
        }
        assert_eq!(keys.queue_of_key("tg:{q:a}:unknown"), None);
        assert_eq!(keys.queue_of_key("other:{q:a}:stats"), None);
        assert_eq!(keys.queue_of_key("tg:{q:a:b}:stats"), None);
        assert_eq!(keys.queue_of_key("tg:queues"), None);
    }
}
