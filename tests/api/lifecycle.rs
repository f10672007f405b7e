//! The happy path and its neighbours: submit, lease, heartbeat, ack, read back; fencing and
//! safe retries of worker calls; ordering.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, ms, queue};

/// submit → lease → heartbeat → ack works end to end and the result is readable afterwards.
#[tokio::test]
async fn submit_lease_heartbeat_ack_keeps_the_result() {
    let app = TestApp::start().await;
    let q = queue("lifecycle");
    let submitted = app
        .submit(&q, json!({"payload": {"to": "ada@example.com"}}))
        .await;
    assert_eq!(submitted["state"], "ready");
    assert_eq!(submitted["attempts"], 0);

    let lease = app
        .lease(&q, json!({"worker": "w-1", "lease_ms": 5000}))
        .await;
    assert_eq!(lease.len(), 1);
    let lease = &lease[0];
    assert_eq!(lease["task"]["id"], submitted["id"]);
    assert_eq!(lease["task"]["state"], "leased");
    assert_eq!(lease["task"]["payload"], json!({"to": "ada@example.com"}));
    assert_eq!(lease["attempt"], 1);

    let beat = app
        .worker_call(lease, "heartbeat", json!({"lease_ms": 20000}))
        .await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    assert!(ms(&beat.body["expires_at"]) > ms(&lease["expires_at"]));
    assert_eq!(beat.body["expires_in_ms"], 20000);

    let acked = app
        .worker_call(lease, "ack", json!({"result": {"sent": true}}))
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.body["state"], "completed");

    let task = app
        .task(&q, submitted["id"].as_str().expect("a new task has an id"))
        .await;
    assert_eq!(task["state"], "completed");
    assert_eq!(task["result"], json!({"sent": true}));
    assert_eq!(task["worker"], "w-1");
    assert_eq!(task["attempts"], 1);
    assert!(task["finished_at"].is_string());
    assert!(task.get("leased_until").is_none());
}

/// Submit answers 201 with a Location that reads the task back.
#[tokio::test]
async fn submit_returns_a_location_for_the_new_task() {
    let app = TestApp::start().await;
    let q = queue("location");
    let reply = app
        .post(&format!("/v1/queues/{q}/tasks"), json!({"payload": null}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let location = reply.headers["location"]
        .to_str()
        .expect("Location is text")
        .to_owned();
    assert_eq!(
        location,
        format!(
            "/v1/queues/{q}/tasks/{}",
            reply.body["id"].as_str().expect("a new task has an id")
        )
    );
    let read = app.get(&location).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body["payload"],
        json!(null),
        "a null payload is kept as null"
    );
}

/// Leasing from an empty (or unknown) queue is 200 with an empty list, not an error.
#[tokio::test]
async fn lease_on_empty_queue_is_an_empty_list() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            &format!("/v1/queues/{}/leases", queue("empty")),
            json!({"max_tasks": 10}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"leases": []}));
}

/// A lease carries both `expires_at` and `expires_in_ms`, and they agree.
#[tokio::test]
async fn lease_response_carries_expires_in_ms_and_expires_at() {
    let app = TestApp::start().await;
    let q = queue("expires");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = &app.lease(&q, json!({"lease_ms": 7000})).await[0];
    assert_eq!(lease["expires_in_ms"], 7000);
    assert_eq!(ms(&lease["expires_at"]), ms(&lease["task"]["leased_until"]));
    assert!(lease["lease_id"].as_str().is_some_and(|id| id.len() == 32));
}

/// An ack with a wrong lease id, or with a lease that is no longer the task's, is 409
/// `lease-lost` and leaves the task exactly as it was.
#[tokio::test]
async fn ack_with_wrong_or_stale_lease_is_lease_lost_and_changes_nothing() {
    let app = TestApp::start().await;
    let q = queue("fencing");
    let task = app.submit(&q, json!({"payload": "x"})).await;
    let id = task["id"].as_str().expect("a new task has an id");
    let lease = app.lease_one(&q).await;
    let before = app.task(&q, id).await;

    let mut forged = lease.clone();
    forged["lease_id"] = json!("0123456789abcdef0123456789abcdef");
    for action in ["ack", "fail", "heartbeat"] {
        let body = json!({"error": "boom"});
        let body = if action == "fail" { body } else { json!({}) };
        app.worker_call(&forged, action, body)
            .await
            .assert_problem(409, "lease-lost");
    }
    assert_eq!(
        app.task(&q, id).await,
        before,
        "a refused call changed the task"
    );

    // The real lease fails the task; that lease is now stale for ack and heartbeat.
    let failed = app
        .worker_call(
            &lease,
            "fail",
            json!({"error": "boom", "retry_in_ms": 60000}),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let after_fail = app.task(&q, id).await;
    app.worker_call(&lease, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    app.worker_call(&lease, "heartbeat", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    assert_eq!(app.task(&q, id).await, after_fail);
}

/// Repeating an ack with the lease that completed the task is 200 with the task as it is, so
/// a worker whose reply was lost can retry; the stored result is the first one.
#[tokio::test]
async fn repeated_ack_with_the_finishing_lease_returns_the_task() {
    let app = TestApp::start().await;
    let q = queue("ack-replay");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let first = app
        .worker_call(&lease, "ack", json!({"result": "first"}))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.headers.get("idempotent-replayed").is_none());

    let again = app
        .worker_call(&lease, "ack", json!({"result": "second"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(again.body["result"], "first");
}

/// Repeating a fail with the lease that failed the task is 200 and uses no second attempt
/// or error entry.
#[tokio::test]
async fn repeated_fail_with_the_same_lease_uses_no_extra_attempt() {
    let app = TestApp::start().await;
    let q = queue("fail-replay");
    app.submit(&q, json!({"payload": 1, "max_attempts": 3}))
        .await;
    let lease = app.lease_one(&q).await;
    let first = app
        .worker_call(&lease, "fail", json!({"error": "boom"}))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["state"], "scheduled");

    let again = app
        .worker_call(&lease, "fail", json!({"error": "boom"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(again.body["attempts_failed"], 1);
    assert_eq!(again.body["errors"].as_array().map(Vec::len), Some(1));
    // An ack with the lease that failed the task is not a replay: that lease is gone.
    app.worker_call(&lease, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
}

/// Higher priority is leased first; equal priorities come out in submit order.
#[tokio::test]
async fn priority_first_then_fifo() {
    let app = TestApp::start().await;
    let q = queue("order");
    for (name, priority) in [
        ("low-1", -5),
        ("mid-1", 0),
        ("high", 10),
        ("mid-2", 0),
        ("low-2", -5),
    ] {
        app.submit(&q, json!({"payload": name, "priority": priority}))
            .await;
    }
    let leases = app.lease(&q, json!({"max_tasks": 10})).await;
    let order: Vec<_> = leases
        .iter()
        .map(|l| l["task"]["payload"].clone())
        .collect();
    assert_eq!(
        order,
        vec![
            json!("high"),
            json!("mid-1"),
            json!("mid-2"),
            json!("low-1"),
            json!("low-2")
        ]
    );
}

/// `max_tasks` bounds a lease call, and the rest stay ready for the next call.
#[tokio::test]
async fn lease_hands_out_at_most_max_tasks() {
    let app = TestApp::start().await;
    let q = queue("batch");
    for n in 0..5 {
        app.submit(&q, json!({"payload": n})).await;
    }
    assert_eq!(app.lease(&q, json!({"max_tasks": 3})).await.len(), 3);
    assert_eq!(app.lease(&q, json!({"max_tasks": 3})).await.len(), 2);
    assert_eq!(app.lease(&q, json!({"max_tasks": 3})).await.len(), 0);
}

/// A delayed task is `scheduled` and is not leased before its time.
#[tokio::test]
async fn delayed_task_is_not_leased_early() {
    let app = TestApp::start().await;
    let q = queue("delayed");
    let task = app
        .submit(&q, json!({"payload": 1, "delay_ms": 3_600_000}))
        .await;
    assert_eq!(task["state"], "scheduled");
    assert_eq!(ms(&task["run_at"]) - ms(&task["created_at"]), 3_600_000);
    assert!(app.lease(&q, json!({"max_tasks": 100})).await.is_empty());

    let past = app
        .submit(&q, json!({"payload": 2, "run_at": "2001-01-01T00:00:00Z"}))
        .await;
    assert_eq!(past["state"], "ready", "a run_at in the past means now");
    assert_eq!(app.lease_one(&q).await["task"]["id"], past["id"]);
}

/// FIFO holds across the point where the old arrival counter wrapped (2^41) and far beyond it
/// (2^52): equal priorities come out in submit order, retries and promotions included in the
/// counter's advance.
#[tokio::test]
async fn fifo_holds_across_the_old_wrap_point() {
    let redis = crate::harness::RedisServer::shared();
    let app = TestApp::start().await;
    for start in [(1_u64 << 41) - 2, (1_u64 << 52) - 2] {
        let q = queue("wrap");
        let stats = format!("{}:{{q:{q}}}:stats", app.prefix);
        app.submit(&q, json!({"payload": "before"})).await;
        let () = redis
            .cmd(&["HSET", &stats, "seq", &start.to_string()])
            .await;
        for n in 0..4 {
            app.submit(&q, json!({"payload": n})).await;
        }
        let order: Vec<_> = app
            .lease(&q, json!({"max_tasks": 10}))
            .await
            .iter()
            .map(|l| l["task"]["payload"].clone())
            .collect();
        assert_eq!(
            order,
            vec![json!("before"), json!(0), json!(1), json!(2), json!(3)],
            "arrivals from {start}"
        );
    }
}

/// Lease ids are 128 random bits: 32 hex digits, different every time.
#[tokio::test]
async fn lease_ids_are_128_random_bits() {
    let app = TestApp::start().await;
    let q = queue("lease-ids");
    for n in 0..50 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let ids: std::collections::HashSet<String> = app
        .lease(&q, json!({"max_tasks": 50}))
        .await
        .iter()
        .map(|l| l["lease_id"].as_str().expect("lease id").to_owned())
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(ids.iter().all(|id| {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }));
}
