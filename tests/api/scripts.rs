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

/// Every operation (submit, get, lease, heartbeat, fail, ack, and the reaper's sweep) works
/// right after `SCRIPT FLUSH`.
#[tokio::test]
async fn every_operation_survives_script_flush() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("noscript");

    flush_scripts(&redis).await;
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().unwrap_or_default().to_owned();
    flush_scripts(&redis).await;
    assert_eq!(app.task(&q, &id).await["state"], "ready");
    flush_scripts(&redis).await;
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(
        app.worker_call(&lease, "heartbeat", json!({})).await.status,
        StatusCode::OK
    );
    flush_scripts(&redis).await;
    let failed = app
        .worker_call(&lease, "fail", json!({"error": "x", "retry_in_ms": 0}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);

    // The reaper's script too: a sweep right after a flush reclaims an expired lease.
    app.submit(&q, json!({"payload": 2})).await;
    let expiring = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let expired_id = expiring["task"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    let reaper = tokio::sync::Mutex::new(taskgate::reaper::Reaper::new(store));
    let (app, q, id, redis, reaper) = (&app, &q, &expired_id, &redis, &reaper);
    eventually("the expired lease to be reclaimed", || async move {
        flush_scripts(redis).await;
        let tick = reaper.lock().await.tick().await;
        assert_eq!(tick.queues_failed, 0, "sweep after SCRIPT FLUSH: {tick:?}");
        (tick.reclaimed > 0).then_some(())
    })
    .await;
    assert_ne!(app.task(q, id).await["state"], "leased");
}
