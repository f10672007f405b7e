//! The reaper's tick is made of parts that fail on their own: sizing and running the registry's
//! scan, registering what it finds, reading the registry. Each failure is logged with what
//! failed, at most once a minute, and the rest of the tick goes on, so expired leases on idle
//! queues are still reclaimed.

use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, log_lines_since, log_mark, queue};

/// An ACL user of `redis` that may not run `denied` (the rest of its rights are a taskgate
/// user's: its keys, its channels, every other command); returns the URL to connect as it.
async fn user_without(redis: &RedisServer, name: &str, keys: &str, denied: &[&str]) -> String {
    let mut setuser = vec![
        "ACL",
        "SETUSER",
        name,
        "on",
        ">secret-pw",
        keys,
        "&*",
        "+@all",
    ];
    let denials: Vec<String> = denied.iter().map(|c| format!("-{c}")).collect();
    setuser.extend(denials.iter().map(String::as_str));
    let () = redis.cmd(&setuser).await;
    format!(
        "--redis-url=redis://{name}:secret-pw@127.0.0.1:{}",
        redis.port
    )
}

/// Submits a task to `q` and leases it for one second, with no further call on the queue.
async fn lease_and_walk_away(app: &TestApp, q: &str) -> String {
    app.submit(q, json!({"payload": 1})).await;
    let lease = app.lease(q, json!({"lease_ms": 1000})).await;
    lease[0]["task"]["id"]
        .as_str()
        .expect("a leased task's id")
        .to_owned()
}

/// Waits until the reaper (nothing else calls the queue) has reclaimed the expired lease.
async fn reclaimed_by_the_reaper(app: &TestApp, q: &str, id: &str) {
    eventually("the reaper to reclaim the expired lease", || async {
        let meta = app.stored_meta(q, id).await?;
        (meta["state"] != "leased").then_some(())
    })
    .await;
}

/// `DBSIZE` and `SCAN` refused (as one failing primary refuses them for a whole Cluster): the
/// registry cannot heal this tick, but the queues it holds are still swept. The sweep used to
/// give up before any queue, silently.
#[tokio::test]
async fn a_failing_registry_scan_stops_no_queue_sweep() {
    let redis = RedisServer::start();
    let url = user_without(&redis, "noscan", "~*", &["dbsize", "scan"]).await;
    let mark = log_mark();
    let app = TestApp::start_with(&redis, &[&url]).await;
    let q = queue("sweep-noscan");
    let id = lease_and_walk_away(&app, &q).await;
    reclaimed_by_the_reaper(&app, &q, &id).await;
    // Many ticks ran (every 100 ms); each failed part is logged once, naming what failed.
    let scans = log_lines_since(mark, "scanning the keyspace for queues");
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(log_lines_since(mark, "counting Redis's keys").len(), 1);
}

/// The registry itself cannot be read or written (its key is out of the user's reach, as when
/// the primary holding it is failing): the queues the scan finds are swept anyway.
#[tokio::test]
async fn an_unreadable_registry_stops_no_queue_sweep() {
    let redis = RedisServer::start();
    // Only the queues' own keys (hash-tagged `noreg:{q:…}`), not the registry `noreg:queues`.
    let url = user_without(&redis, "noregistry", "~noreg:{*", &[]).await;
    let mark = log_mark();
    let app = TestApp::start_with(&redis, &[&url, "--key-prefix=noreg"]).await;
    let q = queue("sweep-noregistry");
    let id = lease_and_walk_away(&app, &q).await;
    reclaimed_by_the_reaper(&app, &q, &id).await;
    let reads = log_lines_since(mark, "reading the queue registry");
    assert_eq!(reads.len(), 1, "{reads:?}");
}
