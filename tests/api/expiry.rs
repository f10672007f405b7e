//! Lease expiry: an expired lease is a failed attempt, the task is delivered again, and the old
//! lease is fenced off. Leases here are the shortest allowed (1 s); waits poll with a deadline.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, ms, queue};

/// Waits until the clock every deadline is computed from, Redis's `TIME`, is past `at` (a time
/// the API returned): the wait ends as soon as the deadline has passed, however busy the
/// machine is, instead of after a fixed sleep that is merely long enough.
async fn redis_clock_past(at: &Value) {
    let deadline = ms(at);
    eventually(&format!("Redis's clock to pass {at}"), || async {
        (RedisServer::shared().now_ms().await > deadline).then_some(())
    })
    .await;
}

/// A lease that runs out makes the task leasable again as attempt 2, and the first lease's
/// ack is then 409 `lease-lost`.
#[tokio::test]
async fn expired_lease_is_redelivered_as_attempt_2_and_old_ack_is_lease_lost() {
    let app = TestApp::start().await;
    let q = queue("expiry");
    let task = app.submit(&q, json!({"payload": "slow"})).await;
    let first = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    assert_eq!(first["attempt"], 1);

    let second = app.lease_when_ready(&q, json!({"lease_ms": 30000})).await;
    assert_eq!(second["task"]["id"], task["id"]);
    assert_eq!(second["attempt"], 2);
    assert_ne!(second["lease_id"], first["lease_id"]);
    assert_eq!(second["task"]["attempts_expired"], 1);
    assert_eq!(second["task"]["errors"][0]["kind"], "expired");
    // Redelivery waited for the lease to end and then for the retry backoff (300 ms here).
    assert!(ms(&second["task"]["run_at"]) >= ms(&first["expires_at"]) + 300);

    app.worker_call(&first, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    let acked = app.worker_call(&second, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
}

/// Expired leases are reclaimed by the background reaper even when no worker calls the queue
/// (watched in Redis, since a `GET` would settle the expiry itself).
#[tokio::test]
async fn reaper_reclaims_expired_leases_without_any_worker_call() {
    let app = TestApp::start().await;
    let q = queue("reaper");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("a new task has an id");
    app.lease(&q, json!({"lease_ms": 1000})).await;

    app.stored_meta_when(&q, id, |t| t["state"] != "leased")
        .await;
    let reclaimed = app.task(&q, id).await;
    assert!(["scheduled", "ready"].contains(&reclaimed["state"].as_str().unwrap_or("")));
    assert_eq!(reclaimed["attempts_expired"], 1);
    assert_eq!(reclaimed["last_error"], "lease expired");
}

/// With the reaper off, an expired lease is still lost at the moment it ends: a heartbeat or
/// ack after the deadline is 409, whether or not anything has reclaimed the task yet.
#[tokio::test]
async fn calls_after_the_deadline_are_lease_lost_even_before_any_sweep() {
    let app = TestApp::start_with(RedisServer::shared(), &["--reaper-interval-ms=0"]).await;
    let q = queue("deadline");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    redis_clock_past(&lease["expires_at"]).await;
    app.worker_call(&lease, "heartbeat", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    app.worker_call(&lease, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    let task = app
        .task(
            &q,
            lease["task"]["id"]
                .as_str()
                .expect("a leased task has an id"),
        )
        .await;
    assert_eq!(task["attempts_expired"], 1);
}

/// Heartbeats keep a lease alive past its original deadline.
#[tokio::test]
async fn heartbeat_keeps_the_lease_past_its_first_deadline() {
    let app = TestApp::start().await;
    let q = queue("heartbeat");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let beat = app
        .worker_call(&lease, "heartbeat", json!({"lease_ms": 10000}))
        .await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    // Wait until the first deadline has passed, by the Redis clock.
    redis_clock_past(&lease["expires_at"]).await;
    let again = app.worker_call(&lease, "heartbeat", json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        again.body["expires_in_ms"], 10000,
        "the lease keeps the length the heartbeat set"
    );
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    assert_eq!(acked.body["attempts"], 1);
    assert_eq!(acked.body["attempts_expired"], 0);
}

/// A lease that expires on the last attempt sends the task to `dead`.
#[tokio::test]
async fn expiry_on_the_last_attempt_is_dead() {
    let app = TestApp::start().await;
    let q = queue("expiry-dead");
    let task = app
        .submit(&q, json!({"payload": 1, "max_attempts": 1}))
        .await;
    app.lease(&q, json!({"lease_ms": 1000})).await;
    let id = task["id"].as_str().expect("a new task has an id");
    let dead = app
        .task_when(&q, id, |t| {
            assert!(
                ["leased", "dead"].contains(&t["state"].as_str().unwrap_or("")),
                "{t}"
            );
            t["state"] == "dead"
        })
        .await;
    assert_eq!(dead["attempts_expired"], 1);
}

/// A read never shows what the Redis clock says is over (SPEC: reads report the effective
/// state). With no reaper at all, a task read right after its lease deadline is no longer
/// `leased`, and a delayed task read right after its time is `ready`: exactly what the next
/// lease call will find.
#[tokio::test]
async fn reads_settle_expired_leases_and_due_schedules() {
    let app = TestApp::start_with(RedisServer::shared(), &["--reaper-interval-ms=0"]).await;
    let q = queue("settle");
    let leased = app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let delayed = app
        .submit(&q, json!({"payload": 2, "delay_ms": 1000}))
        .await;
    redis_clock_past(&lease["expires_at"]).await;
    redis_clock_past(&delayed["run_at"]).await;

    let read = app.task(&q, leased["id"].as_str().expect("id")).await;
    assert_eq!(read["state"], "scheduled", "{read}");
    assert_eq!(read["attempts_expired"], 1);
    assert!(read.get("leased_until").is_none());
    let read = app.task(&q, delayed["id"].as_str().expect("id")).await;
    assert_eq!(read["state"], "ready", "{read}");
    assert_eq!(app.lease_one(&q).await["task"]["id"], delayed["id"]);
}
