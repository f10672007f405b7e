//! The layers around the routes, tested in process: a handler that panics.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt;

use super::{HttpSettings, around};

fn settings() -> HttpSettings {
    HttpSettings {
        max_body_bytes: 1024,
        request_timeout: std::time::Duration::from_secs(5),
        access_log: false,
        cors_origins: Vec::new(),
        max_header_bytes: 16 * 1024,
        max_concurrent_requests: 8,
        max_waiting_requests: 8,
    }
}

async fn panics() -> &'static str {
    panic!("test-only route")
}

/// A router with the app's layers and two test-only routes, one of which panics.
fn panicking_app() -> axum::Router {
    let routes = axum::Router::new()
        .route("/panic", get(panics))
        .route("/fine", get(|| async { "fine" }));
    around(routes, &settings())
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn a_panicking_handler_answers_problem_json_500() {
    let response = panicking_app()
        .oneshot(get_request("/panic"))
        .await
        .expect("an answer, not a dropped request");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(problem["status"], 500);
    // The panic's words are logged, not shown to the client.
    assert!(!String::from_utf8_lossy(&body).contains("test-only route"));
}

/// Over a real socket: after a panic the same server goes on serving.
#[tokio::test]
async fn the_server_keeps_serving_after_a_panic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, panicking_app()).await });
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let panicked = client
            .get(format!("http://{addr}/panic"))
            .send()
            .await
            .expect("a 500, not a reset connection");
        assert_eq!(panicked.status(), 500);
        let fine = client
            .get(format!("http://{addr}/fine"))
            .send()
            .await
            .expect("the server still serves");
        assert_eq!(fine.status(), 200);
        assert_eq!(fine.text().await.expect("body"), "fine");
    }
    server.abort();
}
