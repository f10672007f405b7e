//! Bounded memory: finished tasks are purged after their retention time, leaving nothing of
//! them in Redis, and due retries are promoted by the reaper without any worker call.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// Completed and dead tasks are purged after their TTL: they read 404, and the queue, now
/// empty and idle past its retention, leaves nothing behind in Redis: not its totals, not its
/// registry entry.
#[tokio::test]
async fn finished_tasks_are_purged_after_their_retention() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(
        redis,
        &[
            "--default-completed-ttl-ms=1000",
            "--default-dead-ttl-ms=1000",
        ],
    )
    .await;
    let q = queue("retention");
    app.submit(&q, json!({"payload": "done"})).await;
    app.submit(&q, json!({"payload": "doomed"})).await;
    let done = app.lease_one(&q).await;
    let doomed = app.lease_one(&q).await;
    app.worker_call(&done, "ack", json!({"result": "kept a while"}))
        .await;
    app.worker_call(&doomed, "fail", json!({"error": "x", "retry": false}))
        .await;

    for lease in [&done, &doomed] {
        let path = format!(
            "/v1/queues/{q}/tasks/{}",
            lease["task"]["id"].as_str().unwrap_or("")
        );
        let (app, path) = (&app, &path);
        eventually(&format!("{path} to be purged"), || async move {
            (app.get(path).await.status == StatusCode::NOT_FOUND).then_some(())
        })
        .await;
    }
    let app = &app;
    eventually("the empty queue to leave no key behind", || async move {
        app.keys(redis).await.is_empty().then_some(())
    })
    .await;
}

/// A retry becomes `ready` when its backoff ends, by the reaper, with no worker calling.
#[tokio::test]
async fn reaper_promotes_due_retries_without_any_worker_call() {
    let app = TestApp::start().await;
    let q = queue("promote");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let failed = app.worker_call(&lease, "fail", json!({"error": "x"})).await;
    assert_eq!(failed.body["state"], "scheduled");
    let id = lease["task"]["id"]
        .as_str()
        .expect("a leased task has an id");
    // Watched in Redis: a `GET` would settle the due retry itself.
    app.stored_meta_when(&q, id, |t| t["state"] == "ready")
        .await;
}

/// A cancelled task is kept for the queue's `completed_ttl_ms`, then purged like a completed
/// one: it reads 404 and nothing of it, or of its empty queue, is left in Redis.
#[tokio::test]
async fn cancelled_tasks_are_purged_after_their_retention() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(redis, &["--default-completed-ttl-ms=1000"]).await;
    let q = queue("retention-cancelled");
    let task = app.submit(&q, json!({"payload": "never mind"})).await;
    let path = format!("/v1/queues/{q}/tasks/{}", task["id"].as_str().expect("id"));
    let cancelled = app.delete(&path).await;
    assert_eq!(cancelled.body["state"], "cancelled", "{}", cancelled.body);
    let (app, path) = (&app, &path);
    eventually("the cancelled task to be purged", || async move {
        (app.get(path).await.status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    eventually("the empty queue to leave no key behind", || async move {
        app.keys(redis).await.is_empty().then_some(())
    })
    .await;
}

/// An `Idempotency-Key` protects for its queue's `dedup_window_ms` and no longer, even when no
/// sweep has removed it yet: a submit with it after the window makes a new task.
#[tokio::test]
async fn an_idempotency_key_past_its_window_makes_a_new_task_before_any_sweep() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(
        redis,
        &["--reaper-interval-ms=0", "--default-dedup-window-ms=1000"],
    )
    .await;
    let q = queue("dedup-window");
    let path = format!("/v1/queues/{q}/tasks");
    let body = json!({"payload": "once a second"});
    let keyed = [("idempotency-key", "report-1")];
    let first = app
        .request_with(reqwest::Method::POST, &path, Some(&body), &keyed)
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let expiry = format!("{}:{{q:{q}}}:idempotency_expiry", app.prefix);
    let ends: i64 = redis.cmd(&["ZSCORE", &expiry, "report-1"]).await;
    eventually("the key's window to end by the Redis clock", || async {
        let time: Vec<String> = redis.cmd(&["TIME"]).await;
        let now_ms =
            time[0].parse::<i64>().expect("s") * 1000 + time[1].parse::<i64>().expect("us") / 1000;
        (now_ms > ends).then_some(())
    })
    .await;
    let second = app
        .request_with(reqwest::Method::POST, &path, Some(&body), &keyed)
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_ne!(
        second.body["id"], first.body["id"],
        "the old task was replayed"
    );
}
