//! Safe retries of worker calls (SPEC §3.4, §3.12): a repeated ack or fail with a lease that
//! finished an attempt returns the task as it is now and changes nothing, even after the task
//! was leased again; a repeated lease call with the same `request_id` returns the same leases,
//! so a reply lost on the way back strands no task and burns no attempt.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

fn replayed(reply: &crate::harness::Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// L1 fails (retry now), L2 leases the task again: L1 repeating its fail is a replay that
/// changes nothing, L1's ack is 409. After L2 acks, L1's fail and L2's ack still replay, and
/// the other verbs are 409.
#[tokio::test]
async fn replays_hold_after_the_task_was_leased_again() {
    let app = TestApp::start().await;
    let q = queue("replays");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let l1 = app.lease_one(&q).await;
    let failed = app
        .worker_call(&l1, "fail", json!({"error": "first", "retry_in_ms": 0}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let l2 = app.lease_one(&q).await;
    assert_eq!(l2["task"]["id"], task["id"]);
    let leased = app.task(&q, id).await;

    let again = app
        .worker_call(&l1, "fail", json!({"error": "first", "retry_in_ms": 0}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(replayed(&again));
    assert_eq!(
        again.body, leased,
        "a replay answers with the task as it is now"
    );
    assert_eq!(app.task(&q, id).await, leased, "a replay changed the task");
    app.worker_call(&l1, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");

    let acked = app.worker_call(&l2, "ack", json!({"result": "done"})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert!(!replayed(&acked));
    let done = app.task(&q, id).await;
    for (lease, verb, body) in [
        (&l1, "fail", json!({"error": "first"})),
        (&l2, "ack", json!({"result": "other"})),
    ] {
        let again = app.worker_call(lease, verb, body).await;
        assert_eq!(again.status, StatusCode::OK, "{verb}: {}", again.body);
        assert!(replayed(&again), "{verb}");
        assert_eq!(again.body, done);
    }
    app.worker_call(&l1, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    app.worker_call(&l2, "fail", json!({"error": "late"}))
        .await
        .assert_problem(409, "lease-lost");
    assert_eq!(app.task(&q, id).await, done);
    assert_eq!(done["result"], "done");
    assert_eq!(done["attempts_failed"], 1);
}

/// A lease that never finished an attempt (it expired) can neither ack nor fail: 409.
#[tokio::test]
async fn a_lease_that_expired_never_replays() {
    let app = TestApp::start().await;
    let q = queue("expired-replay");
    app.submit(&q, json!({"payload": 1})).await;
    let expired = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let next = app.lease_when_ready(&q, json!({})).await;
    assert_eq!(next["attempt"], 2);
    for (verb, body) in [("ack", json!({})), ("fail", json!({"error": "x"}))] {
        app.worker_call(&expired, verb, body)
            .await
            .assert_problem(409, "lease-lost");
    }
}

/// A lease call repeated with its `request_id` returns the same leases (still live ones) and
/// leases nothing new; other calls still get the rest of the queue.
#[tokio::test]
async fn a_lease_repeated_with_its_request_id_returns_the_same_leases() {
    let app = TestApp::start().await;
    let q = queue("lease-retry");
    for n in 0..3 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let body = json!({"max_tasks": 2, "request_id": "worker-7-call-1"});
    let first = app
        .post(&format!("/v1/queues/{q}/leases"), body.clone())
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(!replayed(&first));
    let first_ids = lease_ids(&first.body);
    assert_eq!(first_ids.len(), 2);

    let again = app
        .post(&format!("/v1/queues/{q}/leases"), body.clone())
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(replayed(&again));
    assert_eq!(lease_ids(&again.body), first_ids);
    let others = app.lease(&q, json!({"max_tasks": 10})).await;
    assert_eq!(others.len(), 1, "the third task was left for other calls");

    // Once one of its leases is finished, a repeat returns only the live one.
    let finished = &first.body["leases"][0];
    let acked = app.worker_call(finished, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    let later = app.post(&format!("/v1/queues/{q}/leases"), body).await;
    assert!(replayed(&later));
    assert_eq!(lease_ids(&later.body), first_ids[1..].to_vec());
}

/// A lease call whose reply never reaches the client (its client times out while Redis is
/// slow, after the call was sent) is recovered by repeating it with the same `request_id`: the
/// worker gets the lease the first call took, with attempts still at 1, so even a task with
/// `max_attempts: 1` is worked on rather than dying unseen.
#[tokio::test]
async fn a_lease_whose_reply_was_lost_is_recovered_with_its_request_id() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("lost-reply");
    let task = app
        .submit(&q, json!({"payload": 1, "max_attempts": 1}))
        .await;
    let body = json!({"request_id": "lost-1", "lease_ms": 30000});
    let path = format!("{}/v1/queues/{q}/leases", app.base);
    // Load the lease script first: otherwise Redis answers the stalled call with "Function not
    // found", and the load is never sent because the server drops a request whose client has
    // gone.
    assert!(app.lease(&queue("warm-up"), json!({})).await.is_empty());

    let stall = redis.stall(800);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let lost = impatient.post(&path).json(&body).send().await;
    assert!(
        lost.is_err_and(|e| e.is_timeout()),
        "the first reply should be lost"
    );
    tokio::task::spawn_blocking(move || stall.join())
        .await
        .expect("join")
        .expect("stall thread");

    let retried = app.post(&format!("/v1/queues/{q}/leases"), body).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert!(
        replayed(&retried),
        "the first call's lease comes back: {}",
        retried.body
    );
    let lease = &retried.body["leases"][0];
    assert_eq!(lease["task"]["id"], task["id"]);
    assert_eq!(lease["attempt"], 1);
    assert!(app.lease(&q, json!({})).await.is_empty());
    let acked = app.worker_call(lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.body["attempts"], 1);
}

fn lease_ids(body: &Value) -> Vec<String> {
    body["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["lease_id"].as_str().expect("lease id").to_owned())
        .collect()
}

/// A `request_id` repeated after its task was failed and leased again by someone else returns
/// no lease: the task's live lease is the other worker's, and handing it out would let two
/// workers hold one task under one lease id.
#[tokio::test]
async fn a_request_id_repeated_after_its_task_was_leased_again_returns_no_lease() {
    let app = TestApp::start().await;
    let q = queue("replay-released");
    app.submit(&q, json!({"payload": 1})).await;
    let body = json!({"request_id": "first-call"});
    let first = app.lease(&q, body.clone()).await;
    assert_eq!(first.len(), 1);
    let failed = app
        .worker_call(
            &first[0],
            "fail",
            json!({"error": "again", "retry_in_ms": 0}),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let other = app.lease_when_ready(&q, json!({"worker": "other"})).await;
    assert_eq!(other["task"]["id"], first[0]["task"]["id"]);
    let again = app.post(&format!("/v1/queues/{q}/leases"), body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["leases"], json!([]), "{}", again.body);
}
