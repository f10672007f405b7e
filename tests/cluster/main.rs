//! The cluster-marked part of the integration suite: the same tests as `tests/api` for the
//! lifecycle, policy, task groups (fairness, limits, ordering), multi-queue leasing, long polls,
//! batch calls, retries and replays, debounced submits, schedules, worker labels and task requirements,
//! explain and progress reports, dependencies between tasks and flows across slots, run
//! against a real Redis Cluster (three masters, three replicas, started by the harness), plus
//! what only a cluster has: a master killed under load, and a queue's slot moved to another
//! master.

/// The harness's switch: `RedisServer::shared()` is a Redis Cluster in this binary.
pub const CLUSTER: bool = true;

// The harness serves the whole suite; this binary uses part of it.
#[path = "../api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../api/monitor.rs"]
#[allow(dead_code)]
mod monitor;
#[path = "../api/redis_cluster.rs"]
mod redis_cluster;
#[path = "../api/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;
#[path = "../api/reply.rs"]
#[allow(dead_code)]
mod reply;

#[path = "../api/acks.rs"]
mod acks;
#[path = "../api/debounce.rs"]
mod debounce;
#[path = "../api/explain.rs"]
mod explain;
#[path = "../api/flows.rs"]
mod flows;
#[path = "../api/group_limits.rs"]
mod group_limits;
#[path = "../api/grouping.rs"]
mod grouping;
#[path = "../api/groups.rs"]
mod groups;
#[path = "../api/instances.rs"]
mod instances;
#[path = "../api/label_turns.rs"]
mod label_turns;
#[path = "../api/labels.rs"]
mod labels;
#[path = "../api/lifecycle.rs"]
mod lifecycle;
#[path = "../api/lists.rs"]
mod lists;
#[path = "../api/policy.rs"]
mod policy;
#[path = "../api/producers.rs"]
mod producers;
#[path = "../api/progress.rs"]
mod progress;
#[path = "../api/queues.rs"]
mod queues;
#[path = "../api/replays.rs"]
mod replays;
#[path = "../api/requirements.rs"]
mod requirements;
#[path = "../api/retries.rs"]
mod retries;
#[path = "../api/roundtrips.rs"]
mod roundtrips;
#[path = "../api/schedules.rs"]
mod schedules;
#[path = "../api/workflows.rs"]
mod workflows;

mod topology;
