//! Redis dies mid-run (SIGKILL, as a crash or the OOM killer would) and comes back from its
//! AOF: meanwhile every call is a fast `503` and `/readyz` says so; afterwards the same taskgate
//! process serves again by itself, nothing acknowledged is lost, and the reaper and long-polls
//! resume without a restart of taskgate.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TempDir, TestApp, eventually, queue};

#[tokio::test]
async fn redis_killed_and_restarted_from_its_aof_loses_nothing_acknowledged() {
    let dir = TempDir::new("aof");
    let data = dir.display();
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--dir", &data]);
    let app = TestApp::start_with(
        &redis,
        &[
            "--redis-response-timeout-ms=500",
            "--redis-connect-timeout-ms=500",
            "--redis-wait-timeout-ms=500",
        ],
    )
    .await;
    let q = queue("aof");
    let mut submitted: Vec<String> = Vec::new();
    for n in 0..20 {
        let task = app.submit(&q, json!({"payload": {"n": n}})).await;
        submitted.push(task["id"].as_str().expect("id").to_owned());
    }
    let mut acked: Vec<(String, Value)> = Vec::new();
    for _ in 0..10 {
        let lease = app.lease_one(&q).await;
        let result = json!({"done": lease["task"]["payload"]["n"]});
        let reply = app
            .worker_call(&lease, "ack", json!({"result": result}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        acked.push((lease["task"]["id"].as_str().expect("id").to_owned(), result));
    }
    // One task is held under a short lease that will run out while Redis is down.
    let held = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let held_id = held["task"]["id"].as_str().expect("id").to_owned();

    redis.kill();
    let started = Instant::now();
    app.post(
        &format!("/v1/queues/{q}/tasks"),
        json!({"payload": "lost?"}),
    )
    .await
    .assert_problem(503, "unavailable");
    app.get("/readyz").await.assert_problem(503, "unavailable");
    app.post(&format!("/v1/queues/{q}/leases"), json!({}))
        .await
        .assert_problem(503, "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "503s came within the Redis timeouts, took {:?}",
        started.elapsed()
    );

    redis.restart();
    eventually("the same process to be ready again", || async {
        (app.get("/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    for (id, result) in &acked {
        let task = app.task(&q, id).await;
        assert_eq!(task["state"], "completed", "{task}");
        assert_eq!(&task["result"], result);
    }
    for id in &submitted {
        assert_eq!(
            app.get(&format!("/v1/queues/{q}/tasks/{id}")).await.status,
            StatusCode::OK
        );
    }
    // The reaper resumed by itself: the held lease ran out and was reclaimed, with no call on
    // the queue to trigger it.
    app.stored_meta_when(&q, &held_id, |meta| meta["state"] != "leased")
        .await;

    // Long-polls resumed too: a waiter is woken by a submit (its subscription is back).
    let other = queue("aof-wake");
    let waiting = app.long_poll(&other);
    app.subscribed(&redis, &other).await;
    let task = app.submit(&other, json!({"payload": "after"})).await;
    let woken = waiting.await.expect("join");
    assert_eq!(woken["leases"][0]["task"]["id"], task["id"], "{woken}");
    // And a whole lifecycle works on the same process.
    let lease = app.lease_when_ready(&q, json!({})).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
}
