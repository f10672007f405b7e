//! Integration tests: the real app over real HTTP against real `redis-server` processes.

/// This binary runs against single `redis-server`s; `tests/cluster` runs part of the suite
/// against a Redis Cluster.
pub const CLUSTER: bool = false;

mod harness;
mod monitor;
mod process;
mod redis_server;
mod reply;
// The cluster's handling (kill a master, move a slot) serves `tests/cluster`.
#[allow(dead_code)]
mod redis_cluster;

mod acks;
mod auth;
mod batching;
mod batching_faults;
mod batching_work;
mod connections;
mod deadlines;
mod debounce;
mod errors;
mod examples;
mod expiry;
mod explain;
mod explain_edges;
mod faults;
mod fidelity;
mod flows;
mod group_faults;
mod group_limits;
mod grouping;
mod groups;
mod health;
mod history;
mod instances;
mod isolation;
mod label_turns;
mod labels;
mod lifecycle;
mod limits;
mod lists;
mod local_redis;
mod metrics;
mod openapi;
mod policy;
mod producers;
mod progress;
mod queues;
mod race;
mod records;
mod replays;
mod replica_waits;
mod replication;
mod requirement_faults;
mod requirements;
mod retention;
mod retries;
mod roundtrips;
mod schedule_faults;
mod schedule_ticks;
mod schedules;
mod schema;
mod scripts;
mod shutdown;
mod startup;
mod strictness;
mod sweep;
mod tls;
mod unavailable;
mod waiting;
mod workers;
mod workflow_faults;
mod workflows;
