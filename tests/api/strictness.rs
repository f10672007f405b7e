//! Bodies and headers that leave their meaning open are refused, naming what is wrong, and
//! write nothing: a key given twice (at any level the server reads, not inside a payload), a
//! payload or result nested deeper than the server's limit, a header given twice.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, Reply, TestApp, queue};

/// Sends `body` as is (JSON text the `json!` macro could not write, such as a repeated key).
async fn send_raw(app: &TestApp, method: Method, path: &str, body: &str) -> Reply {
    let response = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("http");
    Reply::read(response).await
}

/// The fields a validation problem names, and their messages.
fn named(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").to_owned(),
                e["message"].as_str().expect("message").to_owned(),
            )
        })
        .collect()
}

/// JSON arrays nested `depth` deep around `1` (`depth` 0 is the number alone).
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// `{"payload":1,"payload":2}` and the other keys a client may repeat by mistake are `422`
/// naming the key, at the top level, in an object of the body (`backoff`) and in a batch's
/// items; nothing is written. A repeated key inside a payload is the user's own JSON text, kept
/// byte for byte.
#[tokio::test]
async fn a_repeated_key_is_422_naming_it_at_every_level_but_inside_a_payload() {
    let app = TestApp::start().await;
    let q = queue("repeated-keys");
    let tasks = format!("/v1/queues/{q}/tasks");

    let reply = send_raw(&app, Method::POST, &tasks, r#"{"payload":1,"payload":2}"#).await;
    let problem = reply.assert_problem(422, "validation");
    assert_eq!(named(problem).len(), 1, "{problem}");
    assert_eq!(named(problem)[0].0, "payload");
    assert!(named(problem)[0].1.contains("more than once"), "{problem}");
    assert_eq!(
        app.get(&format!("/v1/queues/{q}")).await.status,
        StatusCode::NOT_FOUND,
        "nothing was written"
    );

    // Inside a payload, a repeated key is the user's text: stored and returned as sent.
    let payload = r#"{"dup":1,"dup":2}"#;
    let reply = send_raw(
        &app,
        Method::POST,
        &tasks,
        &format!(r#"{{"payload":{payload}}}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let stored = app
        .client
        .get(format!(
            "{}{tasks}/{}",
            app.base,
            reply.body["id"].as_str().expect("id")
        ))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        stored.contains(&format!(r#""payload":{payload}"#)),
        "{stored}"
    );

    // An ack naming two leases: neither is guessed.
    let lease = app.lease_one(&q).await;
    let id = lease["task"]["id"].as_str().expect("id");
    let lease_id = lease["lease_id"].as_str().expect("lease id");
    let body = format!(r#"{{"lease_id":"{lease_id}","lease_id":"{lease_id}","result":1}}"#);
    let reply = send_raw(&app, Method::POST, &format!("{tasks}/{id}/ack"), &body).await;
    assert_eq!(
        named(reply.assert_problem(422, "validation"))[0].0,
        "lease_id"
    );
    assert_eq!(
        app.task(&q, id).await["state"],
        "leased",
        "the ack did not apply"
    );

    // In an object of the body, named with its path.
    let reply = send_raw(
        &app,
        Method::PATCH,
        &format!("/v1/queues/{q}/policy"),
        r#"{"backoff": {"initial_ms": 100, "initial_ms": 200}}"#,
    )
    .await;
    assert_eq!(
        named(reply.assert_problem(422, "validation"))[0].0,
        "backoff.initial_ms"
    );
    let policy = app.get(&format!("/v1/queues/{q}/policy")).await.body;
    assert_eq!(policy["version"], 0, "the policy was not written: {policy}");

    // In one task of a batch: that task is refused, the others are submitted.
    let reply = send_raw(
        &app,
        Method::POST,
        &format!("{tasks}:batch"),
        r#"{"tasks": [{"payload": 1}, {"payload": 2, "priority": 1, "priority": 5}]}"#,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["results"][0]["status"], 201, "{}", reply.body);
    let refused = &reply.body["results"][1];
    assert_eq!(refused["status"], 422, "{refused}");
    assert_eq!(named(&refused["error"])[0].0, "priority", "{refused}");

    // A requirement or a label named twice: the task would be routed by a value the client
    // may not have meant.
    let reply = send_raw(
        &app,
        Method::POST,
        &tasks,
        r#"{"payload": 1, "requires": {"gpu": "a100", "gpu": "h100"}}"#,
    )
    .await;
    let problems = named(reply.assert_problem(422, "validation"));
    assert_eq!(problems[0].0, "requires");
    assert!(problems[0].1.contains("twice"), "{problems:?}");
    let reply = send_raw(
        &app,
        Method::POST,
        &format!("/v1/queues/{q}/leases"),
        r#"{"labels": {"gpu": "a100", "gpu": "h100"}}"#,
    )
    .await;
    assert_eq!(
        named(reply.assert_problem(422, "validation"))[0].0,
        "labels"
    );

    // The same key twice at the top level of a batch.
    let reply = send_raw(
        &app,
        Method::POST,
        &format!("{tasks}:batch"),
        r#"{"tasks": [{"payload": 1}], "tasks": [{"payload": 2}]}"#,
    )
    .await;
    assert_eq!(named(reply.assert_problem(422, "validation"))[0].0, "tasks");
}

/// Payloads and results may nest arrays and objects up to the server's limit (64 by default):
/// at the limit they are accepted, one level deeper they are `422` naming the field, for a
/// submit, a task of a batch, an ack and an ack of a batch. Nothing deeper is stored.
#[tokio::test]
async fn payloads_and_results_deeper_than_the_limit_are_422_naming_the_field() {
    let app = TestApp::start().await;
    let q = queue("deep");
    let tasks = format!("/v1/queues/{q}/tasks");
    let limit = 64;

    let deep = format!(r#"{{"payload":{}}}"#, nested(limit + 1));
    let problem = send_raw(&app, Method::POST, &tasks, &deep).await;
    let problem = problem.assert_problem(422, "validation");
    assert_eq!(named(problem).len(), 1, "{problem}");
    assert_eq!(named(problem)[0].0, "payload");
    assert!(
        named(problem)[0].1.contains("65 levels") && named(problem)[0].1.contains("64"),
        "{problem}"
    );
    // Ten thousand levels (20 KB) are refused the same way, without a stack to exhaust.
    let deeper = format!(r#"{{"payload":{}}}"#, nested(10_000));
    let reply = send_raw(&app, Method::POST, &tasks, &deeper).await;
    assert_eq!(
        named(reply.assert_problem(422, "validation"))[0].0,
        "payload"
    );
    assert_eq!(
        app.get(&format!("/v1/queues/{q}")).await.status,
        StatusCode::NOT_FOUND,
        "nothing was written"
    );

    let at_limit = format!(r#"{{"payload":{}}}"#, nested(limit));
    let reply = send_raw(&app, Method::POST, &tasks, &at_limit).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let batch = format!(
        r#"{{"tasks":[{{"payload":{}}},{{"payload":{}}}]}}"#,
        nested(limit),
        nested(limit + 1)
    );
    let reply = send_raw(&app, Method::POST, &format!("{tasks}:batch"), &batch).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["results"][0]["status"], 201, "{}", reply.body);
    let refused = &reply.body["results"][1];
    assert_eq!(refused["status"], 422, "{refused}");
    assert_eq!(named(&refused["error"])[0].0, "payload", "{refused}");

    // Acks: the result one level over is refused (the task stays leased), at the limit taken.
    let leases = app.lease(&q, json!({"max_tasks": 2})).await;
    assert_eq!(leases.len(), 2, "{leases:?}");
    let ack = |lease: &Value, result: &str| {
        (
            format!("{tasks}/{}/ack", lease["task"]["id"].as_str().expect("id")),
            format!(
                r#"{{"lease_id":"{}","result":{result}}}"#,
                lease["lease_id"].as_str().expect("lease id")
            ),
        )
    };
    let (path, body) = ack(&leases[0], &nested(limit + 1));
    let reply = send_raw(&app, Method::POST, &path, &body).await;
    assert_eq!(
        named(reply.assert_problem(422, "validation"))[0].0,
        "result"
    );
    let id = leases[0]["task"]["id"].as_str().expect("id");
    assert_eq!(app.task(&q, id).await["state"], "leased");
    let (path, body) = ack(&leases[0], &nested(limit));
    let reply = send_raw(&app, Method::POST, &path, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let batch = format!(
        r#"{{"acks":[{{"id":"{}","lease_id":"{}","result":{}}}]}}"#,
        leases[1]["task"]["id"].as_str().expect("id"),
        leases[1]["lease_id"].as_str().expect("lease id"),
        nested(limit + 1)
    );
    let reply = send_raw(&app, Method::POST, &format!("/v1/queues/{q}/acks"), &batch).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let refused = &reply.body["results"][0];
    assert_eq!(refused["status"], 422, "{refused}");
    assert_eq!(named(&refused["error"])[0].0, "result", "{refused}");
}

/// The limit is a setting: with `--max-json-depth=3`, 3 levels pass and 4 do not.
#[tokio::test]
async fn the_depth_limit_is_configurable() {
    let app = TestApp::start_with(RedisServer::shared(), &["--max-json-depth=3"]).await;
    let tasks = format!("/v1/queues/{}/tasks", queue("depth-setting"));
    let reply = send_raw(
        &app,
        Method::POST,
        &tasks,
        &format!(r#"{{"payload":{}}}"#, nested(3)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = send_raw(
        &app,
        Method::POST,
        &tasks,
        &format!(r#"{{"payload":{}}}"#, nested(4)),
    )
    .await;
    let problem = reply.assert_problem(422, "validation");
    assert!(named(problem)[0].1.contains("the limit is 3"), "{problem}");
}

/// Two `Idempotency-Key` headers are `422` naming the header, not a submit under one of them.
#[tokio::test]
async fn two_idempotency_key_headers_are_422_naming_the_header() {
    let app = TestApp::start().await;
    let q = queue("two-keys");
    let response = app
        .client
        .post(format!("{}/v1/queues/{q}/tasks", app.base))
        .header("idempotency-key", "first")
        .header("idempotency-key", "second")
        .json(&json!({"payload": 1}))
        .send()
        .await
        .expect("http");
    let reply = Reply::read(response).await;
    let problem = reply.assert_problem(422, "validation");
    assert_eq!(named(problem)[0].0, "Idempotency-Key", "{problem}");
    assert_eq!(
        app.get(&format!("/v1/queues/{q}")).await.status,
        StatusCode::NOT_FOUND,
        "nothing was written"
    );
    // One of them alone works.
    let reply = app
        .request_with(
            Method::POST,
            &format!("/v1/queues/{q}/tasks"),
            Some(&json!({"payload": 1})),
            &[("idempotency-key", "second")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}
