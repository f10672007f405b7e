//! Every kind of bad input gets its RFC 9457 problem, names the field where there is one, and
//! writes nothing to Redis.

use reqwest::Method;
use serde_json::{Value, json};

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

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("a validation problem lists its errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Broken JSON is 400 `malformed-request`.
#[tokio::test]
async fn bad_json_is_malformed_request() {
    let app = TestApp::start().await;
    let path = format!("/v1/queues/{}/tasks", queue("bad-json"));
    raw(&app, &path, "application/json", b"{\"payload\": ".to_vec())
        .await
        .assert_problem(400, "malformed-request");
    raw(&app, &path, "application/json", b"{} trailing".to_vec())
        .await
        .assert_problem(400, "malformed-request");
}

/// A body that is not declared as JSON is 415 `unsupported-media-type`.
#[tokio::test]
async fn wrong_content_type_is_unsupported_media_type() {
    let app = TestApp::start().await;
    let path = format!("/v1/queues/{}/tasks", queue("media"));
    raw(&app, &path, "text/plain", b"{\"payload\": 1}".to_vec())
        .await
        .assert_problem(415, "unsupported-media-type");
}

/// A queue name outside `^[A-Za-z0-9._-]{1,128}$` is 422 naming `queue`.
#[tokio::test]
async fn invalid_queue_name_is_a_validation_problem() {
    let app = TestApp::start().await;
    for name in ["bad%7Bname%7D", "a:b", &"x".repeat(129)] {
        let reply = app
            .post(&format!("/v1/queues/{name}/tasks"), json!({"payload": 1}))
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

/// An unknown route is 404 and a wrong method 405, both as problem+json.
#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = TestApp::start().await;
    app.get("/v1/nothing-here")
        .await
        .assert_problem(404, "not-found");
    let reply = app.request(Method::DELETE, "/healthz", None).await;
    reply.assert_problem(405, "method-not-allowed");
    assert!(reply.headers.contains_key("allow"));
    app.get("/v1/queues/q/leases")
        .await
        .assert_problem(405, "method-not-allowed");
}

/// `OPTIONS` is a method like any other: off every route it is `404`, on a route that does
/// not serve it `405`, and the answer carries `x-request-id` as every answer does. With CORS
/// on, a preflight from an allowed origin on a real route is answered (with the request id),
/// and one for a path no route serves is `404`.
#[tokio::test]
async fn options_answers_carry_a_request_id_and_unknown_paths_are_404() {
    let options = |app: &TestApp, path: &str| {
        app.client
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send()
    };
    let has_request_id = |reply: &reqwest::Response| {
        reply
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty())
    };
    let app = TestApp::start().await;
    let unknown = options(&app, "/nonexistent").await.expect("options");
    assert_eq!(unknown.status().as_u16(), 404);
    assert!(has_request_id(&unknown), "{:?}", unknown.headers());
    crate::harness::Reply::read(unknown)
        .await
        .assert_problem(404, "not-found");
    let route = options(&app, "/v1/queues/q/tasks").await.expect("options");
    assert_eq!(route.status().as_u16(), 405);
    assert!(has_request_id(&route), "{:?}", route.headers());

    let cors = TestApp::start_with(
        RedisServer::shared(),
        &["--cors-origins=https://app.example.com"],
    )
    .await;
    let preflight = options(&cors, "/v1/queues/q/tasks").await.expect("options");
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(has_request_id(&preflight), "{:?}", preflight.headers());
    let unknown = options(&cors, "/nonexistent").await.expect("options");
    assert_eq!(unknown.status().as_u16(), 404);
    assert!(has_request_id(&unknown), "{:?}", unknown.headers());
    // Answers to the page's real requests still carry the CORS headers, errors included.
    let missing = cors
        .client
        .get(format!("{}/v1/queues/never-made", cors.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

/// A body over the server's limit is 413 `payload-too-large`.
#[tokio::test]
async fn oversized_body_is_payload_too_large() {
    let app = TestApp::start_with(RedisServer::shared(), &["--max-payload-bytes=1000"]).await;
    let path = format!("/v1/queues/{}/tasks", queue("huge"));
    // The body limit is the payload cap plus 64 KiB of envelope.
    let body = format!("{{\"payload\": \"{}\"}}", "x".repeat(70_000));
    raw(&app, &path, "application/json", body.into_bytes())
        .await
        .assert_problem(413, "payload-too-large");
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

/// Bad field values are 422 naming every bad field at once.
#[tokio::test]
async fn validation_names_every_bad_field() {
    let app = TestApp::start().await;
    let q = queue("fields");
    let reply = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"priority": 5000, "max_attempts": 0, "lease_ms": 10, "delay_ms": 5, "run_at": "soon"}),
        )
        .await;
    let mut got = fields(reply.assert_problem(422, "validation"));
    got.sort();
    assert_eq!(
        got,
        vec!["lease_ms", "max_attempts", "payload", "priority", "run_at"]
    );

    let reply = app
        .post(
            &format!("/v1/queues/{q}/leases"),
            json!({"max_tasks": 101, "lease_ms": 999}),
        )
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["max_tasks", "lease_ms"]
    );
    let reply = app
        .post(
            &format!("/v1/queues/{q}/leases"),
            json!({"max_tasks": "ten"}),
        )
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["max_tasks"]
    );
    let reply = app
        .post(&format!("/v1/queues/{q}/leases"), json!({"wait": 1}))
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["wait"],
        "unknown fields are refused"
    );
    let path = format!("/v1/queues/{q}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/fail");
    let reply = app.post(&path, json!({"retry": "yes"})).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["lease_id", "error", "retry"],
        "every problem of one body is named at once"
    );
    let reply = app.post(&path, json!({})).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["lease_id", "error"]
    );

    // Lengths count characters, as the schema's maxLength does: 128 two-byte characters are a
    // well-formed (if unknown) lease id, 129 are not.
    let ack = path.replace("/fail", "/ack");
    let fits = app.post(&ack, json!({"lease_id": "é".repeat(128)})).await;
    fits.assert_problem(404, "not-found");
    let too_long = app.post(&ack, json!({"lease_id": "é".repeat(129)})).await;
    assert_eq!(
        fields(too_long.assert_problem(422, "validation")),
        vec!["lease_id"]
    );
    let lease = format!("/v1/queues/{q}/leases");
    let worker = app.post(&lease, json!({"worker": "w".repeat(129)})).await;
    assert_eq!(
        fields(worker.assert_problem(422, "validation")),
        vec!["worker"]
    );
    let worker = app.post(&lease, json!({"worker": "bad\nname"})).await;
    assert_eq!(
        fields(worker.assert_problem(422, "validation")),
        vec!["worker"]
    );
}

/// None of the refused requests above writes anything to Redis.
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

/// Integer fields take any whole JSON number (`2.0` is 2, as JSON Schema's `integer` allows)
/// and refuse fractions, naming the field; a body that is not an object is refused too.
#[tokio::test]
async fn integers_must_be_whole_numbers_and_bodies_objects() {
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
    let reply = app
        .post(&format!("/v1/queues/{q}/leases"), json!({"max_tasks": 2.5}))
        .await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        vec!["max_tasks"]
    );
    let reply = app
        .post(&format!("/v1/queues/{q}/leases"), json!([null, null]))
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
    let app = TestApp::start().await;
    let path = format!("/v1/queues/{}/tasks", queue("every-field"));
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
        let reply = app.post(&path, body).await;
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
