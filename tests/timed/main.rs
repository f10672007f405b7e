//! The tests that time Redis's scripts by the wall clock (`SLOWLOG`): bounded work per sweep
//! script (`bounds.rs`), per lease whatever the groups hold (`group_bounds.rs`), and per
//! sweep whatever the schedules (`schedule_bounds.rs`). A binary
//! of their own, because cargo runs test binaries one after another: no other test's load
//! lands on their measurements (in `tests/api`, a busy neighbour test on the two cores made
//! Redis's scripts take three times as long by the wall clock, and failed them).

/// This binary runs against single `redis-server`s.
pub const CLUSTER: bool = false;

// The harness serves the whole suite; this binary uses part of it.
#[path = "../api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../api/redis_cluster.rs"]
#[allow(dead_code)]
mod redis_cluster;
#[path = "../api/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;
#[path = "../api/reply.rs"]
#[allow(dead_code)]
mod reply;

#[path = "../api/grouping.rs"]
#[allow(dead_code)]
mod grouping;

mod bounds;
mod group_bounds;
mod schedule_bounds;
