//! Bounded work whatever the groups hold (SPEC §8): a lease looks only at the groups in the
//! turns, so 10,000 groups cost a lease no more than a few, and one group at its limit with
//! 100,000 ready tasks costs the others nothing. Timed by Redis itself (SLOWLOG, every
//! command), on a Redis of this test's own.

use deadpool_redis::redis;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::grouping::{group_of, submit_group};
use crate::harness::{RedisServer, TestApp, queue};

/// Submits one task to each of `count` groups named `one-<n>`, in batches of 1000.
async fn one_task_groups(app: &TestApp, q: &str, count: usize) {
    for start in (0..count).step_by(1000) {
        let tasks: Vec<Value> = (start..count.min(start + 1000))
            .map(|n| json!({"payload": n, "group": format!("one-{n:05}")}))
            .collect();
        let reply = app
            .post(
                &format!("/v1/queues/{q}/tasks:batch"),
                json!({ "tasks": tasks }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

/// The 90th percentile, in µs, of the lease scripts Redis ran for `leases` leases of one task
/// each, one at a time (the reaper is off, so every script in the log is a lease's).
async fn lease_p90_us(redis: &RedisServer, app: &TestApp, q: &str, leases: usize) -> u64 {
    let () = redis.cmd(&["SLOWLOG", "RESET"]).await;
    for _ in 0..leases {
        let lease = app.lease_one(q).await;
        assert_ne!(group_of(&lease), "big", "the held group leased a task");
    }
    let log: Vec<redis::Value> = redis.cmd(&["SLOWLOG", "GET", "-1"]).await;
    let mut micros: Vec<u64> = log
        .iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(fields) => match (&fields[2], &fields[3]) {
                (redis::Value::Int(us), redis::Value::Array(args))
                    if matches!(&args[0], redis::Value::BulkString(c) if c == b"FCALL") =>
                {
                    Some(*us as u64)
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(micros.len() >= leases, "{} scripts logged", micros.len());
    micros.sort_unstable();
    micros[micros.len() * 9 / 10]
}

/// Two queues, each with 10,000 groups of one task; one of them also has a group at its
/// `max_in_flight` with 100,000 ready tasks. Under both strategies, the 90th percentile of
/// the lease script stays under 5 ms (a walk of the held group's 100,000 tasks would take tens
/// of ms; a lease alone takes 0.15-1 ms by the wall clock, depending on how idle a machine lets
/// Redis's core go between calls made one at a time), and with the held group it is no slower
/// than without it (within 50% + 50 µs of timing noise).
#[tokio::test]
async fn a_group_at_its_limit_costs_the_others_nothing() {
    let _alone = crate::bounds::ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start_with(&["--slowlog-max-len", "100000"]);
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let (plain, loaded) = (queue("bounds-plain"), queue("bounds-loaded"));
    for q in [&plain, &loaded] {
        app.patch_policy(q, json!({"groups": {"max_in_flight": 1}}))
            .await;
    }
    submit_group(&app, &loaded, Some("big"), 100_000).await;
    for q in [&plain, &loaded] {
        one_task_groups(&app, q, 10_000).await;
    }
    // The big group's oldest task is the queue's oldest: the first lease takes it, and the
    // group is then at its limit, its 99,999 other tasks still ready.
    let first = app.lease(&loaded, json!({})).await;
    assert_eq!(group_of(&first[0]), "big");
    let view = app
        .get(&format!("/v1/queues/{loaded}/groups/big"))
        .await
        .body;
    assert_eq!(view["held_by"], "max_in_flight", "{view}");
    assert_eq!(view["counts"]["ready"], 99_999);

    let () = redis
        .cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"])
        .await;
    for strategy in ["fair", "priority"] {
        for q in [&plain, &loaded] {
            app.patch_policy(q, json!({ "strategy": strategy })).await;
        }
        let without = lease_p90_us(&redis, &app, &plain, 1000).await;
        let with = lease_p90_us(&redis, &app, &loaded, 1000).await;
        assert!(with < 5000, "{strategy}: p90 {with} µs with the held group");
        assert!(
            with <= without * 3 / 2 + 50,
            "{strategy}: p90 {with} µs with the held group, {without} µs without"
        );
        eprintln!("{strategy}: lease p90 {without} µs without the held group, {with} µs with it");
    }
}
