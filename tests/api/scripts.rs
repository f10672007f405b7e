//! The NOSCRIPT path: after Redis forgets its scripts (restart, failover, `SCRIPT FLUSH`),
//! every operation reloads its script and works.

use deadpool_redis::redis;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, queue};

async fn flush_scripts(redis: &RedisServer) {
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .expect("SCRIPT FLUSH");
}

/// Every script (submit, get, lease with and without a request id, heartbeat, ack with and
/// without a result, fail with a short and a long error, quarantine, and the reaper's sweep)
/// works right after `SCRIPT FLUSH`.
#[tokio::test]
async fn every_operation_survives_script_flush() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("noscript");
    let ok = StatusCode::OK;

    flush_scripts(&redis).await;
    let task = app
        .submit(&q, json!({"payload": 1, "max_attempts": 9}))
        .await;
    let id = task["id"]
        .as_str()
        .expect("a new task has an id")
        .to_owned();
    app.submit(&q, json!({"payload": 2})).await;
    flush_scripts(&redis).await;
    assert_eq!(app.task(&q, &id).await["state"], "ready");
    flush_scripts(&redis).await;
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(
        app.worker_call(&lease, "heartbeat", json!({})).await.status,
        ok
    );
    flush_scripts(&redis).await;
    let short = json!({"error": "x", "retry_in_ms": 0});
    assert_eq!(app.worker_call(&lease, "fail", short).await.status, ok);
    let lease = app.lease(&q, json!({"request_id": "r1"})).await.remove(0);
    flush_scripts(&redis).await;
    let long = json!({"error": "x".repeat(1000), "retry_in_ms": 0});
    assert_eq!(app.worker_call(&lease, "fail", long).await.status, ok);
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({"result": 1}))
            .await
            .status,
        ok
    );
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(app.worker_call(&lease, "ack", json!({})).await.status, ok);

    // The quarantine script runs when the server finds an unreadable payload.
    let bad = app.submit(&q, json!({"payload": 3})).await;
    let bad_id = bad["id"].as_str().expect("a new task has an id");
    let () = redis
        .cmd(&[
            "HSET",
            &format!("{}:{{q:{q}}}:payload", app.prefix),
            bad_id,
            "{",
        ])
        .await;
    flush_scripts(&redis).await;
    app.get(&format!("/v1/queues/{q}/tasks/{bad_id}"))
        .await
        .assert_problem(404, "not-found");
    let quarantined: Option<f64> = redis
        .cmd(&[
            "ZSCORE",
            &format!("{}:{{q:{q}}}:quarantine", app.prefix),
            bad_id,
        ])
        .await;
    assert!(quarantined.is_some());

    // The reaper's script too: a sweep right after a flush reclaims an expired lease.
    app.submit(&q, json!({"payload": 4})).await;
    let expiring = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let expired_id = expiring["task"]["id"]
        .as_str()
        .expect("a leased task has an id")
        .to_owned();
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    let reaper = tokio::sync::Mutex::new(taskgate::store::sweep::Reaper::new(store.sweep));
    let (app, q, id, redis, reaper) = (&app, &q, &expired_id, &redis, &reaper);
    eventually("the expired lease to be reclaimed", || async move {
        flush_scripts(redis).await;
        let tick = reaper.lock().await.tick().await;
        assert_eq!(tick.queues_failed, 0, "sweep after SCRIPT FLUSH: {tick:?}");
        (tick.reclaimed > 0).then_some(())
    })
    .await;
    assert_ne!(
        app.stored_meta(q, id).await.expect("meta")["state"],
        "leased"
    );
}
