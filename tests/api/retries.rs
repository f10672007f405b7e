//! Explicit failures: retry with backoff while attempts remain, then `dead`; `retry: false`;
//! `retry_in_ms`. The test app's backoff is exact (300 ms, x2, no jitter).

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, ms, queue};

/// A failed task is scheduled after its backoff and is only leased again once that is over.
#[tokio::test]
async fn fail_with_retry_comes_back_after_its_backoff() {
    let app = TestApp::start().await;
    let q = queue("retry");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let failed = app
        .worker_call(&lease, "fail", json!({"error": "SMTP 451"}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let task = &failed.body;
    assert_eq!(task["state"], "scheduled");
    assert_eq!(task["attempts_failed"], 1);
    assert_eq!(task["last_error"], "SMTP 451");
    assert_eq!(task["errors"][0]["kind"], "failed");
    let failed_at = ms(&task["errors"][0]["at"]);
    assert_eq!(
        ms(&task["run_at"]) - failed_at,
        300,
        "first backoff is initial_ms"
    );

    let again = app.lease_when_ready(&q, json!({"lease_ms": 5000})).await;
    assert_eq!(again["attempt"], 2);
    let leased_at = ms(&again["expires_at"]) - 5000;
    assert!(
        leased_at >= ms(&task["run_at"]),
        "leased at {leased_at}, before run_at"
    );

    // The second failure backs off twice as long.
    let second = app
        .worker_call(&again, "fail", json!({"error": "again"}))
        .await;
    assert_eq!(
        ms(&second.body["run_at"]) - ms(&second.body["errors"][1]["at"]),
        600
    );
}

/// Failing the last attempt sends the task to `dead`.
#[tokio::test]
async fn fail_on_the_last_attempt_is_dead() {
    let app = TestApp::start().await;
    let q = queue("last-attempt");
    app.submit(&q, json!({"payload": 1, "max_attempts": 2}))
        .await;
    let first = app.lease_one(&q).await;
    let reply = app
        .worker_call(&first, "fail", json!({"error": "one", "retry_in_ms": 0}))
        .await;
    assert_eq!(
        reply.body["state"], "ready",
        "retry_in_ms 0 retries at once"
    );
    let second = app.lease_one(&q).await;
    let reply = app
        .worker_call(&second, "fail", json!({"error": "two"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["state"], "dead");
    assert_eq!(reply.body["attempts"], 2);
    assert!(reply.body["finished_at"].is_string());
    assert!(app.lease(&q, json!({})).await.is_empty());
}

/// `retry: false` sends the task to `dead` at once, whatever attempts remain.
#[tokio::test]
async fn fail_without_retry_is_dead_at_once() {
    let app = TestApp::start().await;
    let q = queue("no-retry");
    app.submit(&q, json!({"payload": 1, "max_attempts": 10}))
        .await;
    let lease = app.lease_one(&q).await;
    let reply = app
        .worker_call(
            &lease,
            "fail",
            json!({"error": "bad input", "retry": false}),
        )
        .await;
    assert_eq!(reply.body["state"], "dead");
    assert_eq!(reply.body["attempts"], 1);
}

/// `retry_in_ms` replaces the backoff for one retry and is capped at `backoff.max_ms`.
#[tokio::test]
async fn retry_in_ms_overrides_the_backoff_up_to_its_cap() {
    let app = TestApp::start_with(
        crate::harness::RedisServer::shared(),
        &["--default-backoff-max-ms=5000"],
    )
    .await;
    let q = queue("retry-in");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let reply = app
        .worker_call(
            &lease,
            "fail",
            json!({"error": "x", "retry_in_ms": 999_999}),
        )
        .await;
    let at = ms(&reply.body["errors"][0]["at"]);
    assert_eq!(ms(&reply.body["run_at"]) - at, 5000);
}

/// The error history keeps only the newest entries, and long messages are cut.
#[tokio::test]
async fn error_history_is_capped() {
    let app = TestApp::start().await;
    let q = queue("history");
    app.submit(&q, json!({"payload": 1, "max_attempts": 12}))
        .await;
    let mut last = json!(null);
    for n in 1..=12 {
        let lease = app.lease_one(&q).await;
        let message = format!("failure {n} {}", "x".repeat(5000));
        last = app
            .worker_call(&lease, "fail", json!({"error": message, "retry_in_ms": 0}))
            .await
            .body;
    }
    let errors = last["errors"]
        .as_array()
        .expect("the task's errors")
        .clone();
    assert_eq!(errors.len(), 10);
    assert_eq!(errors[0]["attempt"], 3);
    assert_eq!(errors[9]["attempt"], 12);
    assert_eq!(errors[9]["message"].as_str().map(str::len), Some(4096));
    assert_eq!(last["state"], "dead");
}
