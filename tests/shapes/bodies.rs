//! Bad bodies (moved from `tests/api/errors.rs`): broken JSON, a wrong content type, bad queue
//! names and ids, bounds, whole numbers, every problem of a body named at once, in words.

use axum::http::Method;
use serde_json::{Value, json};

use crate::{InProcess, Reply, fields};

async fn raw(app: &InProcess, path: &str, content_type: &str, body: &[u8]) -> Reply {
    app.send(
        Method::POST,
        path,
        &[("content-type", content_type)],
        Some(body.to_vec()),
    )
    .await
}

/// Broken JSON is 400 `malformed-request`.
#[tokio::test]
async fn bad_json_is_malformed_request() {
    let app = InProcess::new();
    let path = "/v1/queues/bad-json/tasks";
    raw(&app, path, "application/json", b"{\"payload\": ")
        .await
        .assert_problem(400, "malformed-request");
    raw(&app, path, "application/json", b"{} trailing")
        .await
        .assert_problem(400, "malformed-request");
}

/// A body that is not declared as JSON is 415 `unsupported-media-type`.
#[tokio::test]
async fn wrong_content_type_is_unsupported_media_type() {
    let app = InProcess::new();
    raw(
        &app,
        "/v1/queues/media/tasks",
        "text/plain",
        b"{\"payload\": 1}",
    )
    .await
    .assert_problem(415, "unsupported-media-type");
}

/// A queue name outside `^[A-Za-z0-9._-]{1,128}$` is 422 naming `queue`.
#[tokio::test]
async fn invalid_queue_name_is_a_validation_problem() {
    let app = InProcess::new();
    for name in ["bad%7Bname%7D", "a:b", &"x".repeat(129)] {
        let reply = app
            .post(&format!("/v1/queues/{name}/tasks"), &json!({"payload": 1}))
            .await;
        assert_eq!(
            fields(reply.assert_problem(422, "validation")),
            vec!["queue"],
            "{name}"
        );
    }
    let reply = app.get("/v1/queues/a:b/tasks/not-a-uuid").await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["queue", "id"]
    );
}

/// A body over the server's limit is 413 `payload-too-large`.
#[tokio::test]
async fn oversized_body_is_payload_too_large() {
    let app = InProcess::with(&["--max-payload-bytes=1000"]);
    // The body limit is the payload cap plus 64 KiB of envelope.
    let body = format!("{{\"payload\": \"{}\"}}", "x".repeat(70_000));
    raw(
        &app,
        "/v1/queues/huge/tasks",
        "application/json",
        body.as_bytes(),
    )
    .await
    .assert_problem(413, "payload-too-large");
}

/// Bad field values are 422 naming every bad field at once.
#[tokio::test]
async fn validation_names_every_bad_field() {
    let app = InProcess::new();
    let q = "fields";
    let reply = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            &json!({"priority": 5000, "max_attempts": 0, "lease_ms": 10, "delay_ms": 5, "run_at": "soon"}),
        )
        .await;
    let mut got = fields(reply.assert_problem(422, "validation"));
    got.sort();
    assert_eq!(
        got,
        vec!["lease_ms", "max_attempts", "payload", "priority", "run_at"]
    );

    let leases = format!("/v1/queues/{q}/leases");
    let refused = |body: Value| {
        let app = &app;
        let leases = &leases;
        async move {
            fields(
                app.post(leases, &body)
                    .await
                    .assert_problem(422, "validation"),
            )
        }
    };
    assert_eq!(
        refused(json!({"max_tasks": 101, "lease_ms": 999})).await,
        vec!["max_tasks", "lease_ms"]
    );
    assert_eq!(
        refused(json!({"max_tasks": "ten"})).await,
        vec!["max_tasks"]
    );
    assert_eq!(
        refused(json!({"wait": 1})).await,
        vec!["wait"],
        "unknown fields are refused"
    );
    let path = format!("/v1/queues/{q}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/fail");
    let reply = app.post(&path, &json!({"retry": "yes"})).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["lease_id", "error", "retry"],
        "every problem of one body is named at once"
    );
    let reply = app.post(&path, &json!({})).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["lease_id", "error"]
    );

    // Lengths count characters, as the schema's maxLength does (that 128 fit is tested in
    // tests/api/errors.rs, where the ack then reaches Redis).
    let ack = path.replace("/fail", "/ack");
    let too_long = app.post(&ack, &json!({"lease_id": "é".repeat(129)})).await;
    assert_eq!(
        fields(too_long.assert_problem(422, "validation")),
        vec!["lease_id"]
    );
    assert_eq!(
        refused(json!({"worker": "w".repeat(129)})).await,
        vec!["worker"]
    );
    assert_eq!(
        refused(json!({"worker": "bad\nname"})).await,
        vec!["worker"]
    );
}

/// Integer fields refuse fractions, naming the field; a body that is not an object is refused
/// too. (That `2.0` is taken as 2 is tested in tests/api/errors.rs, where it leases.)
#[tokio::test]
async fn fractions_and_non_objects_are_refused() {
    let app = InProcess::new();
    let reply = app
        .post("/v1/queues/numbers/leases", &json!({"max_tasks": 2.5}))
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["max_tasks"]
    );
    let reply = app
        .post("/v1/queues/numbers/leases", &json!([null, null]))
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["body"]
    );
}

/// One body with several problems gets one `422` naming each of them (in the order the fields
/// are read, unknown fields last), in words for people: no parser positions.
#[tokio::test]
async fn every_problem_of_a_body_is_named_in_words() {
    let app = InProcess::new();
    for (body, expected) in [
        (
            json!({"payload": 1, "priority": 5000, "lease_mss": 3, "delay_ms": -1}),
            vec!["priority", "delay_ms", "lease_mss"],
        ),
        (
            json!({"priority": 5000, "delay_ms": 1.5}),
            vec!["payload", "priority", "delay_ms"],
        ),
    ] {
        let reply = app.post("/v1/queues/every-field/tasks", &body).await;
        let problem = reply.assert_problem(422, "validation");
        assert_eq!(fields(problem), expected);
        for error in problem["errors"].as_array().expect("errors") {
            let message = error["message"].as_str().unwrap_or("");
            assert!(
                !message.contains("line") && !message.contains("column"),
                "{message}"
            );
        }
    }
}
