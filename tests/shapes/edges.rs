//! The edges of the router: unknown routes and wrong methods (moved from
//! `tests/api/errors.rs`), `OPTIONS` and CORS, auth refusals (moved from `tests/api/auth.rs`)
//! and the header limit (from `tests/api/limits.rs`), all decided before any Redis call.

use axum::http::Method;
use serde_json::json;

use crate::{InProcess, Reply};

/// An unknown route is 404 and a wrong method 405, both as problem+json.
#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = InProcess::new();
    app.get("/v1/nothing-here")
        .await
        .assert_problem(404, "not-found");
    let reply = app.send(Method::DELETE, "/healthz", &[], None).await;
    reply.assert_problem(405, "method-not-allowed");
    assert!(reply.headers.contains_key("allow"));
    app.get("/v1/queues/q/leases")
        .await
        .assert_problem(405, "method-not-allowed");
}

async fn options(app: &InProcess, path: &str) -> Reply {
    app.send(
        Method::OPTIONS,
        path,
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ],
        None,
    )
    .await
}

fn has_request_id(reply: &Reply) -> bool {
    reply
        .headers
        .get("x-request-id")
        .is_some_and(|v| !v.is_empty())
}

/// `OPTIONS` is a method like any other: off every route it is `404`, on a route that does
/// not serve it `405`, and the answer carries `x-request-id` as every answer does. With CORS
/// on, a preflight from an allowed origin on a real route is answered (with the request id),
/// and one for a path no route serves is `404`.
#[tokio::test]
async fn options_answers_carry_a_request_id_and_unknown_paths_are_404() {
    let app = InProcess::new();
    let unknown = options(&app, "/nonexistent").await;
    assert!(has_request_id(&unknown), "{:?}", unknown.headers);
    unknown.assert_problem(404, "not-found");
    let route = options(&app, "/v1/queues/q/tasks").await;
    assert_eq!(route.status.as_u16(), 405);
    assert!(has_request_id(&route), "{:?}", route.headers);

    let cors = InProcess::with(&["--cors-origins=https://app.example.com"]);
    let preflight = options(&cors, "/v1/queues/q/tasks").await;
    assert_eq!(preflight.status.as_u16(), 200);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(has_request_id(&preflight), "{:?}", preflight.headers);
    let unknown = options(&cors, "/nonexistent").await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert!(has_request_id(&unknown), "{:?}", unknown.headers);
    // Answers to the page's real requests still carry the CORS headers, errors included.
    let refused = cors
        .send(
            Method::GET,
            "/v1/queues/a:b",
            &[("origin", "https://app.example.com")],
            None,
        )
        .await;
    refused.assert_problem(422, "validation");
    assert_eq!(
        refused.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
}

/// `401` and `403` are decided before any Redis call: with no Redis at all, a call without a
/// key is `401` (with `WWW-Authenticate: Bearer`), a key of the wrong role `403`, and only a
/// call that gets through reaches the store (`503`).
#[tokio::test]
async fn refusals_come_before_any_redis_call() {
    let keys = json!([
        {"name": "web", "role": "producer", "key": "tg-producer-5b1f0c9e7a3d"},
        {"name": "mailer", "role": "worker", "key": "tg-worker-0c3e8d2a9f61b4"},
    ])
    .to_string();
    let app = InProcess::with(&[
        &format!("--api-keys={keys}"),
        "--redis-connect-timeout-ms=200",
        "--redis-response-timeout-ms=200",
    ]);
    let submit = |key: Option<&'static str>| {
        let app = &app;
        async move {
            let auth = key.map(|k| format!("Bearer {k}"));
            let mut headers = vec![("content-type", "application/json")];
            if let Some(auth) = &auth {
                headers.push(("authorization", auth.as_str()));
            }
            app.send(
                Method::POST,
                "/v1/queues/down/tasks",
                &headers,
                Some(br#"{"payload": 1}"#.to_vec()),
            )
            .await
        }
    };
    let anonymous = submit(None).await;
    anonymous.assert_problem(401, "unauthorized");
    let challenge = anonymous.headers["www-authenticate"].to_str().unwrap_or("");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    submit(Some("tg-worker-0c3e8d2a9f61b4"))
        .await
        .assert_problem(403, "forbidden");
    submit(Some("tg-producer-5b1f0c9e7a3d"))
        .await
        .assert_problem(503, "unavailable");
}

/// Headers over `--max-header-bytes` are `431` as problem+json; under it, the request is served.
#[tokio::test]
async fn oversized_headers_are_431_problem_json() {
    let app = InProcess::with(&["--max-header-bytes=4096"]);
    let big = "v".repeat(5000);
    app.send(Method::GET, "/healthz", &[("x-padding", &big)], None)
        .await
        .assert_problem(431, "headers-too-large");
    let fine = "v".repeat(2000);
    let reply = app
        .send(Method::GET, "/healthz", &[("x-padding", &fine)], None)
        .await;
    assert_eq!(reply.status.as_u16(), 200);
}
