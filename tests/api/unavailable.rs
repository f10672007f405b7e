//! Redis trouble is an error, not a hang: with Redis down the API answers 503 `unavailable`
//! with `Retry-After`, readiness says so, and everything recovers by itself when Redis is back.

use deadpool_redis::redis;
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

/// Redis out of memory: a submit is refused whole with 503 (nothing half-written), while
/// leasing, heartbeats, acks and fails keep working so the queue can drain. Submits work
/// again as soon as memory is available.
#[tokio::test]
async fn out_of_memory_refuses_submits_but_lets_work_drain() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("oom");
    for n in 0..2 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let first = app.lease_one(&q).await;
    let mut conn = redis.connection().await;
    let meta_key = format!("{}:{{q:{q}}}:meta", app.prefix);
    let tasks_before: i64 = redis::cmd("HLEN")
        .arg(&meta_key)
        .query_async(&mut conn)
        .await
        .expect("HLEN");
    let set_maxmemory = |bytes: &'static str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(bytes)
            .clone()
    };
    let _: () = set_maxmemory("1")
        .query_async(&mut conn)
        .await
        .expect("CONFIG SET");

    let refused = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "no room"}),
        )
        .await;
    refused.assert_problem(503, "unavailable");
    assert_eq!(refused.headers["retry-after"], "1");
    let tasks_after: i64 = redis::cmd("HLEN")
        .arg(&meta_key)
        .query_async(&mut conn)
        .await
        .expect("HLEN");
    assert_eq!(tasks_after, tasks_before, "the refused submit wrote a task");

    assert_eq!(
        app.worker_call(&first, "heartbeat", json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.worker_call(&first, "ack", json!({"result": 1}))
            .await
            .status,
        StatusCode::OK
    );
    let second = app.lease_one(&q).await;
    let failed = app
        .worker_call(&second, "fail", json!({"error": "x", "retry": false}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);

    let _: () = set_maxmemory("0")
        .query_async(&mut conn)
        .await
        .expect("CONFIG SET");
    app.submit(&q, json!({"payload": "room again"})).await;
}
