//! Redis trouble is an error, not a hang: with Redis down the API answers 503 `unavailable`
//! with `Retry-After`, readiness says so, and everything recovers by itself when Redis is back.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// Redis stops: submit, lease and readiness get 503 with Retry-After, liveness stays 200.
/// Redis returns: the same app serves again with no restart, and data written after is kept.
#[tokio::test]
async fn redis_outage_is_503_and_the_service_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("outage");
    app.submit(&q, json!({"payload": "before"})).await;

    redis.stop();
    let submit = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "during"}),
        )
        .await;
    submit.assert_problem(503, "unavailable");
    assert_eq!(submit.headers["retry-after"], "1");
    assert!(
        !submit.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refused"),
        "internal detail leaked"
    );
    app.post(&format!("/v1/queues/{q}/leases"), json!({}))
        .await
        .assert_problem(503, "unavailable");
    app.get("/readyz").await.assert_problem(503, "unavailable");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);

    redis.restart();
    let app_ref = &app;
    eventually("readiness to recover", || async move {
        (app_ref.get("/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    let task = app.submit(&q, json!({"payload": "after"})).await;
    let lease = app.lease_one(&q).await;
    assert_eq!(
        lease["task"]["id"], task["id"],
        "the restarted Redis kept nothing, as configured"
    );
}

/// Redis out of memory: calls that only shrink or keep state still work, so the queue drains
/// (heartbeat, lease, an ack without a result, a fail with a short error); calls that add data
/// are refused with 503 and change nothing (a submit, an ack with a result, a fail with a long
/// error). Twenty acks carrying a 1 MB result each leave Redis's memory where it was.
#[tokio::test]
async fn out_of_memory_refuses_what_adds_data_but_lets_work_drain() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("oom");
    for n in 0..3 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let leases = app.lease(&q, json!({"max_tasks": 3})).await;
    assert_eq!(leases.len(), 3);
    let meta_key = format!("{}:{{q:{q}}}:meta", app.prefix);
    let tasks_before: i64 = redis.cmd(&["HLEN", &meta_key]).await;
    redis.config_set("maxmemory", "1").await;
    let memory_before = redis.used_memory().await;

    let refused = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "no room"}),
        )
        .await;
    refused.assert_problem(503, "unavailable");
    assert_eq!(refused.headers["retry-after"], "1");
    let tasks_after: i64 = redis.cmd(&["HLEN", &meta_key]).await;
    assert_eq!(tasks_after, tasks_before, "the refused submit wrote a task");

    let big_result = json!({"result": "r".repeat(1_000_000)});
    for _ in 0..20 {
        app.worker_call(&leases[0], "ack", big_result.clone())
            .await
            .assert_problem(503, "unavailable");
    }
    // Redis keeps a connection's last command in its query buffer for a while, so memory may
    // grow by about one result per connection, never by twenty.
    let grown = redis.used_memory().await.saturating_sub(memory_before);
    assert!(
        grown < 3_000_000,
        "refused results still grew Redis by {grown} bytes"
    );
    let id0 = leases[0]["task"]["id"].as_str().expect("task id");
    let result_key = format!("{}:{{q:{q}}}:result", app.prefix);
    let stored: bool = redis.cmd(&["HEXISTS", &result_key, id0]).await;
    assert!(!stored, "a refused result was stored");
    assert_eq!(
        app.task(&q, id0).await["state"],
        "leased",
        "a refused ack changed the task"
    );

    let long_error = json!({"error": "e".repeat(1000)});
    app.worker_call(&leases[1], "fail", long_error)
        .await
        .assert_problem(503, "unavailable");
    let id1 = leases[1]["task"]["id"].as_str().expect("task id");
    assert_eq!(app.task(&q, id1).await["attempts_failed"], 0);

    let beat = app.worker_call(&leases[0], "heartbeat", json!({})).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    let acked = app.worker_call(&leases[0], "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let failed = app
        .worker_call(
            &leases[1],
            "fail",
            json!({"error": "disk full", "retry": false}),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(failed.body["state"], "dead");
    let acked = app.worker_call(&leases[2], "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert!(app.lease(&q, json!({})).await.is_empty());

    redis.config_set("maxmemory", "0").await;
    app.submit(&q, json!({"payload": "room again"})).await;
}
