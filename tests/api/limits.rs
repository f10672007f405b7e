//! The server's own limits, each a problem+json: body size (413), time (408), header size
//! (431), and load shedding (503 with `Retry-After`) that keeps waiting requests from crowding
//! out short ones.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// A submit whose body is announced but only half sent: it holds its request slot until the
/// rest comes (or the connection closes).
async fn half_sent_submit(app: &TestApp, q: &str) -> TcpStream {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/queues/{q}/tasks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: 16\r\n\r\n{{\"payload\":"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    stream
}

#[tokio::test]
async fn an_oversized_body_is_413_problem_json() {
    let app = TestApp::start_with(RedisServer::shared(), &["--max-payload-bytes=100"]).await;
    let big = "x".repeat(100 * 1024);
    app.post(
        &format!("/v1/queues/{}/tasks", queue("big")),
        json!({"payload": big}),
    )
    .await
    .assert_problem(413, "payload-too-large");
}

/// Over a real socket, through hyper: headers over `--max-header-bytes` are `431` as
/// problem+json, and a request under the limit is served. (The in-process twin is in
/// tests/shapes/edges.rs.)
#[tokio::test]
async fn oversized_headers_are_431_problem_json() {
    let app = TestApp::start_with(RedisServer::shared(), &["--max-header-bytes=4096"]).await;
    let big = "v".repeat(5000);
    let reply = app
        .request_with(Method::GET, "/v1/queues", None, &[("x-padding", &big)])
        .await;
    reply.assert_problem(431, "headers-too-large");
    let fine = "v".repeat(2000);
    let reply = app
        .request_with(Method::GET, "/v1/queues", None, &[("x-padding", &fine)])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// A request still busy at its deadline (here: Redis stalled by a long script, with a Redis
/// timeout longer than the request's) is abandoned with `408`.
#[tokio::test]
async fn a_request_past_its_deadline_is_408_problem_json() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(
        &redis,
        &[
            "--request-timeout-ms=300",
            "--redis-response-timeout-ms=5000",
            "--reaper-interval-ms=0",
        ],
    )
    .await;
    app.get("/readyz").await; // the connection is open before the stall
    let stall = redis.stall(1500);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let reply = app
        .post(
            &format!("/v1/queues/{}/tasks", queue("slow")),
            json!({"payload": 1}),
        )
        .await;
    reply.assert_problem(408, "request-timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "answered at the deadline, not after the stall"
    );
    stall.join().expect("stall");
}

/// A result wait is granted its own `wait_ms` on top of the request timeout: a wait longer
/// than the timeout runs its full length and answers `200`, not `408`.
#[tokio::test]
async fn a_granted_wait_is_not_cut_by_the_request_timeout() {
    let app = TestApp::start_with(RedisServer::shared(), &["--request-timeout-ms=300"]).await;
    let q = queue("patient");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let started = Instant::now();
    let reply = app
        .get(&format!("/v1/queues/{q}/tasks/{id}?wait_ms=900"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["state"], "ready");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// At the short-request limit a new request is refused at once with `503` and `Retry-After`;
/// long-polls hold waiting slots of their own, so a full set of them leaves short calls free,
/// and a waiter over the waiting limit is refused too. Probes are never shed.
#[tokio::test]
async fn overload_is_shed_fast_and_waiters_never_starve_short_calls() {
    let app = TestApp::start_with(
        RedisServer::shared(),
        &["--max-concurrent-requests=2", "--max-waiting-requests=3"],
    )
    .await;
    let (idle, busy, probe) = (queue("idle"), queue("busy"), queue("probe"));
    let lease = |wait_ms: u64| json!({"wait_ms": wait_ms});
    let path = format!("/v1/queues/{idle}/leases");
    let polls: Vec<_> = (0..3)
        .map(|_| {
            let (client, url) = (app.client.clone(), format!("{}{path}", app.base));
            tokio::spawn(async move { client.post(url).json(&lease(4000)).send().await })
        })
        .collect();
    // The waiting class is full once a one-millisecond waiter is refused.
    let refused = eventually("the waiting slots to fill", || async {
        let reply = app.post(&path, lease(1)).await;
        (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
    })
    .await;
    let detail = refused.assert_problem(503, "unavailable")["detail"].clone();
    assert!(
        detail.as_str().expect("detail").contains("3 waiting"),
        "{detail}"
    );
    // Three long-polls in flight, yet short calls go through, one after another.
    for n in 0..5 {
        app.submit(&busy, json!({"payload": n})).await;
    }
    // Two half-sent requests take both short slots: the next call is refused at once.
    let held = [
        half_sent_submit(&app, &busy).await,
        half_sent_submit(&app, &busy).await,
    ];
    let shed = eventually("the short slots to fill", || async {
        let reply = app
            .post(
                &format!("/v1/queues/{probe}/tasks"),
                json!({"payload": "x"}),
            )
            .await;
        (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
    })
    .await;
    shed.assert_problem(503, "unavailable");
    assert_eq!(
        shed.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "probes are never shed"
    );
    assert_eq!(
        app.get("/readyz").await.status,
        StatusCode::OK,
        "probes are never shed"
    );
    drop(held);
    eventually("short slots to come back", || async {
        let reply = app
            .post(&format!("/v1/queues/{busy}/tasks"), json!({"payload": "y"}))
            .await;
        (reply.status == StatusCode::CREATED).then_some(())
    })
    .await;
    for poll in polls {
        let answer = poll.await.expect("join").expect("the long-poll answered");
        assert_eq!(answer.status(), StatusCode::OK);
    }
    // Only the five submits and the last one were stored: the shed ones left nothing.
    assert_eq!(app.queue_stats(&busy).await["counts"]["ready"], 6);
}
