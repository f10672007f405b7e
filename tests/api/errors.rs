//! Every kind of bad input gets its RFC 9457 problem, names the field where there is one, and
//! writes nothing to Redis.

use serde_json::json;

use crate::harness::{RedisServer, TestApp, queue};

/// Sends raw bytes with a content type.
async fn raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::harness::Reply {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("http");
    crate::harness::Reply::read(response).await
}

/// An unknown task is 404 `not-found`, for reads and for worker calls.
#[tokio::test]
async fn unknown_task_is_not_found() {
    let app = TestApp::start().await;
    let path = format!(
        "/v1/queues/{}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11",
        queue("nf")
    );
    app.get(&path).await.assert_problem(404, "not-found");
    let lease = json!({"lease_id": "0123456789abcdef0123456789abcdef"});
    app.post(&format!("{path}/ack"), lease.clone())
        .await
        .assert_problem(404, "not-found");
    app.post(&format!("{path}/heartbeat"), lease)
        .await
        .assert_problem(404, "not-found");
}

/// The payload limit holds at its boundary: exactly the limit is accepted, one byte more is
/// 413, and the rejected task is not stored.
#[tokio::test]
async fn payload_limit_holds_at_the_boundary() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(redis, &["--max-payload-bytes=100"]).await;
    let q = queue("boundary");
    // A JSON string's compact size is its length plus two quotes.
    let at_limit = "y".repeat(98);
    let task = app.submit(&q, json!({"payload": at_limit})).await;
    assert_eq!(task["payload"].as_str().map(str::len), Some(98));
    let over = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "y".repeat(99)}),
        )
        .await;
    over.assert_problem(413, "payload-too-large");
    let leases = app.lease(&q, json!({"max_tasks": 10})).await;
    assert_eq!(leases.len(), 1, "only the first task exists");

    // An ack result obeys the same limit; the refused ack leaves the lease usable.
    let refused = app
        .worker_call(&leases[0], "ack", json!({"result": "z".repeat(99)}))
        .await;
    refused.assert_problem(413, "payload-too-large");
    let acked = app
        .worker_call(&leases[0], "ack", json!({"result": "z".repeat(98)}))
        .await;
    assert_eq!(acked.status, reqwest::StatusCode::OK, "{}", acked.body);
}

/// Refused requests (a bad field, a payload over the limit, broken JSON, a wrong content type,
/// a bad lease call) write nothing to Redis.
#[tokio::test]
async fn bad_input_changes_nothing_in_redis() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(redis, &["--max-payload-bytes=10"]).await;
    let q = queue("untouched");
    let tasks = format!("/v1/queues/{q}/tasks");
    app.post(&tasks, json!({"priority": 1}))
        .await
        .assert_problem(422, "validation");
    app.post(&tasks, json!({"payload": "far too long for ten bytes"}))
        .await
        .assert_problem(413, "payload-too-large");
    raw(&app, &tasks, "application/json", b"{".to_vec())
        .await
        .assert_problem(400, "malformed-request");
    raw(&app, &tasks, "text/plain", b"{}".to_vec())
        .await
        .assert_problem(415, "unsupported-media-type");
    app.post(&format!("/v1/queues/{q}/leases"), json!({"max_tasks": 0}))
        .await
        .assert_problem(422, "validation");
    assert_eq!(app.keys(redis).await, Vec::<String>::new());
}

/// Integer fields take any whole JSON number (`2.0` is 2, as JSON Schema's `integer` allows).
/// (Fractions and bodies that are not objects are refused in tests/shapes/bodies.rs.)
#[tokio::test]
async fn whole_floats_are_integers() {
    let app = TestApp::start().await;
    let q = queue("numbers");
    app.submit(&q, json!({"payload": 1, "priority": 2.0})).await;
    let leases = app
        .post(&format!("/v1/queues/{q}/leases"), json!({"max_tasks": 2.0}))
        .await;
    assert_eq!(
        leases.body["leases"].as_array().map(Vec::len),
        Some(1),
        "{}",
        leases.body
    );
}

/// Lengths count characters, as the schema's maxLength does: 128 two-byte characters are a
/// well-formed (if unknown) lease id, and the ack reaches Redis to find no such task. (129 are
/// refused in tests/shapes/bodies.rs.)
#[tokio::test]
async fn lengths_count_characters_not_bytes() {
    let app = TestApp::start().await;
    let ack = format!(
        "/v1/queues/{}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/ack",
        queue("fields")
    );
    let fits = app.post(&ack, json!({"lease_id": "é".repeat(128)})).await;
    fits.assert_problem(404, "not-found");
}
