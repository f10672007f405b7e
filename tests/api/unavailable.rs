//! Redis trouble is an error, not a hang: with Redis down the API answers 503 `unavailable`
//! with `Retry-After`, readiness says so, and everything recovers by itself when Redis is back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, queue};

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
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/readyz").await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "readiness never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let task = app.submit(&q, json!({"payload": "after"})).await;
    let lease = app.lease_one(&q).await;
    assert_eq!(
        lease["task"]["id"], task["id"],
        "the restarted Redis kept nothing, as configured"
    );
}
