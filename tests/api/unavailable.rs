//! Redis trouble is an error, not a hang: with Redis down the API answers 503 `unavailable`
//! with `Retry-After`, readiness says so, and everything recovers by itself when Redis is back.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, log_lines_since, log_mark, queue};

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

/// The data Redis holds: its dataset figure less the scripts it keeps for `EVAL`, which Redis
/// 7 counts in it. A full Redis refuses `FUNCTION LOAD`, so a script whose library had not been
/// loaded before (an ack's, the reaper's) runs as `EVAL` and is kept (~70 KB each): that is not
/// data, and whether it happens depends on which calls came before Redis filled.
async fn data_held(redis: &RedisServer) -> u64 {
    let [dataset, scripts] = redis
        .memories(["used_memory_dataset", "used_memory_scripts_eval"])
        .await;
    dataset.saturating_sub(scripts)
}

/// Redis out of memory: calls that only shrink or keep state still work, so the queue drains
/// (heartbeat, lease, an ack without a result, a fail with a short error); calls that add data
/// are refused with 503 and change nothing (a submit, an ack with a result, a fail with a long
/// error). A heartbeat with a progress report still extends its lease, without the report,
/// and says so (`progress_dropped`). Twenty acks carrying a 1 MB result each leave Redis's memory where it was.
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
    let data_before = data_held(&redis).await;

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
    // The data Redis holds did not grow. Its connections' query buffers, which briefly hold the
    // last command sent, are not data, but Redis's accounting moves them out of the dataset
    // figure only at its next client cron: so wait for that, while data that really grew would
    // stay grown.
    let redis_ref = &redis;
    eventually("Redis's dataset to show no growth", || async move {
        let grown = data_held(redis_ref).await.saturating_sub(data_before);
        (grown < 64 * 1024).then_some(())
    })
    .await;
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

    let before = app.task(&q, id0).await["leased_until"].clone();
    let report = json!({"progress": "p".repeat(4000), "lease_ms": 600_000});
    let beat = app.worker_call(&leases[0], "heartbeat", report).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    assert_eq!(beat.body["progress_dropped"], true, "{}", beat.body);
    let after = app.task(&q, id0).await;
    assert!(after.get("progress").is_none(), "a refused report was kept");
    assert_ne!(
        after["leased_until"], before,
        "the lease was extended all the same"
    );
    assert_eq!(after["leased_until"], beat.body["expires_at"]);

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

/// A full Redis still leases, `request_id` and all, so work drains: a lease adds only its own
/// few fields to each task it hands out and, with a `request_id`, one short record, given back
/// when the leases end. 100 tasks leased at once grow the stored data by well under 300 bytes
/// each.
#[tokio::test]
async fn a_full_redis_still_leases_with_a_request_id_and_grows_by_little() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("oom-lease");
    let tasks: Vec<_> = (0..100).map(|n| json!({"payload": n})).collect();
    let reply = app
        .post(
            &format!("/v1/queues/{q}/tasks:batch"),
            json!({"tasks": tasks}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The lease script's library is loaded into Redis first, so only data is measured.
    assert!(app.lease(&queue("oom-empty"), json!({})).await.is_empty());
    redis.config_set("maxmemory", "1").await;
    let data_before = stored_bytes(&redis).await;
    let body = json!({"max_tasks": 100, "request_id": "while-full", "worker": "w-1"});
    let leases = app.lease(&q, body.clone()).await;
    assert_eq!(leases.len(), 100);
    let again = app.post(&format!("/v1/queues/{q}/leases"), body).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["leases"].as_array().map(Vec::len), Some(100));
    let grown = stored_bytes(&redis).await.saturating_sub(data_before);
    assert!(
        grown < 100 * 300,
        "leasing 100 tasks grew the data by {grown} bytes"
    );
    redis.config_set("maxmemory", "0").await;
}

/// The bytes Redis holds for every key but the ready sets (which a lease empties), exactly
/// (`MEMORY USAGE ... SAMPLES 0`). Not `used_memory_dataset`: after a reply of 100 tasks it
/// stays up to ~130 KB high until Redis's client cron frees buffers, later on a busy machine.
async fn stored_bytes(redis: &RedisServer) -> u64 {
    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]).await;
    let mut total = 0;
    for key in keys
        .iter()
        .filter(|k| !k.ends_with(":ready") && !k.ends_with(":ready_time"))
    {
        let bytes: Option<u64> = redis.cmd(&["MEMORY", "USAGE", key, "SAMPLES", "0"]).await;
        total += bytes.unwrap_or(0);
    }
    total
}

/// Redis busy with a long script past its `busy-reply-threshold` answers `BUSY`: that is
/// Redis being unavailable, so requests and readiness get 503 `unavailable` (never 500), and
/// everything works again once the script ends.
#[tokio::test]
async fn busy_redis_is_503_unavailable() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("busy");
    let task = app.submit(&q, json!({"payload": 1})).await;
    redis.config_set("busy-reply-threshold", "50").await;

    let stall = redis.stall(1500);
    // Let the busy script start; everything below happens well within its 1.5 s.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = app.get("/readyz").await;
    ready.assert_problem(503, "unavailable");
    assert_eq!(ready.headers["retry-after"], "1");
    app.post(&format!("/v1/queues/{q}/tasks"), json!({"payload": 2}))
        .await
        .assert_problem(503, "unavailable");
    app.get(&format!(
        "/v1/queues/{q}/tasks/{}",
        task["id"].as_str().expect("id")
    ))
    .await
    .assert_problem(503, "unavailable");
    tokio::task::spawn_blocking(move || stall.join())
        .await
        .expect("join")
        .expect("stall thread");

    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(app.lease_one(&q).await["task"]["id"], task["id"]);
}

/// Redis stalls for 1.4 s (a long script, under the 2 s response timeout): 30 concurrent
/// requests share the few pooled connections, wait it out and all answer 200. None fails
/// because the others are in flight.
#[tokio::test]
async fn a_stall_under_the_response_timeout_fails_no_request() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await);
    let q = queue("stall");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let path = format!("/v1/queues/{q}/tasks/{}", task["id"].as_str().expect("id"));

    let stall = redis.stall(1400);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let requests: Vec<_> = (0..30)
        .map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { app.get(&path).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.expect("request"));
    }
    let waited = started.elapsed();
    tokio::task::spawn_blocking(move || stall.join())
        .await
        .expect("join")
        .expect("stall thread");
    assert!(
        waited >= Duration::from_millis(1000),
        "the requests did not meet the stall ({waited:?})"
    );
    assert_eq!(statuses, vec![StatusCode::OK; 30]);
}

/// A 3 s Redis outage, with requests arriving all along and the reaper ticking, is logged as
/// it starts and as it ends: two lines, not a line per request or per tick, and no ERROR.
#[tokio::test]
async fn an_outage_is_logged_when_it_starts_and_when_it_ends() {
    let mut redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=100"]).await;
    let q = queue("outage-log");
    app.submit(&q, json!({"payload": 1})).await;
    // Ports are reused over a test run: only lines logged from now on count.
    let marker = format!("127.0.0.1:{}", redis.port);
    let mark = log_mark();

    redis.stop();
    let started = std::time::Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let reply = app
            .post(&format!("/v1/queues/{q}/tasks"), json!({"payload": 2}))
            .await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        refused += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    redis.restart();
    let app_ref = &app;
    eventually("readiness to recover", || async move {
        (app_ref.get("/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;

    let lines = log_lines_since(mark, &marker);
    assert!(refused > 50, "only {refused} requests were tried");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("cannot connect"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("INFO") && lines[1].contains("available again"),
        "{}",
        lines[1]
    );
}
