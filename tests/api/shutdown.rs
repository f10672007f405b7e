//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, answers a waiting
//! long-poll at once (empty), lets an in-flight request finish, stops the reaper and exits 0;
//! a request that never finishes is given up after the shutdown timeout (here on SIGINT); and
//! the in-process server answers a waiting long-poll at once when it stops.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{RedisServer, TestApp, eventually, queue};
use crate::process::Server;

/// A submit whose headers and first half of the body are sent; `finish` sends the rest.
async fn half_sent_submit(server: &Server, q: &str, body: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let (first, rest) = body.split_at(body.len() / 2);
    let head = format!(
        "POST /v1/queues/{q}/tasks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    (stream, rest.to_owned())
}

/// The value of an unlabelled or labelled series in the server's `/metrics`.
async fn metric(server: &Server, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn sigterm_answers_long_polls_finishes_requests_and_exits_0() {
    let redis = RedisServer::shared();
    let url = redis.url();
    let prefix = format!("sigterm{}", std::process::id());
    let mut server = Server::spawn(
        &[
            ("TASKGATE_REDIS_URL", &url),
            ("TASKGATE_KEY_PREFIX", &prefix),
        ],
        &[],
    );
    server.wait_up();
    let q = queue("sigterm");
    let poll = {
        let url = format!("{}/v1/queues/{q}/leases", server.base);
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"wait_ms": 30000}))
                .send()
                .await
        })
    };
    let (mut slow, rest) = half_sent_submit(&server, &q, r#"{"payload": {"slow": true}}"#).await;
    let short = "taskgate_http_requests_in_flight{class=\"short\"}";
    let waiting = "taskgate_http_requests_in_flight{class=\"waiting\"}";
    eventually(
        "the long-poll and the slow request to be in flight",
        || async {
            (metric(&server, short).await >= 1.0 && metric(&server, waiting).await >= 1.0)
                .then_some(())
        },
    )
    .await;

    let signalled = Instant::now();
    server.signal("TERM");
    let answer = poll.await.expect("join").expect("the long-poll answered");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["leases"], json!([]), "{body}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the 30 s long-poll ended with the shutdown, after {:?}",
        signalled.elapsed()
    );
    // No new connections once shutdown has begun.
    eventually("the listener to close", || async {
        TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    // The request in flight finishes normally.
    slow.write_all(rest.as_bytes())
        .await
        .expect("send the rest");
    let mut response = String::new();
    slow.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}: {}", server.log());
    assert!(server.logged("taskgate stopped"), "{}", server.log());
    // Its task is stored.
    let id = response
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the task id in the answer");
    let stored: bool = redis
        .cmd(&["HEXISTS", &format!("{prefix}:{{q:{q}}}:meta"), id])
        .await;
    assert!(stored, "the task submitted during shutdown is stored");
}

#[tokio::test]
async fn a_request_that_never_finishes_is_given_up_after_the_shutdown_timeout() {
    let url = RedisServer::shared().url();
    let mut server = Server::spawn(
        &[
            ("TASKGATE_REDIS_URL", &url),
            ("TASKGATE_SHUTDOWN_TIMEOUT_MS", "1000"),
        ],
        &[],
    );
    server.wait_up();
    let (_stuck, _) = half_sent_submit(&server, &queue("stuck"), r#"{"payload": 1}"#).await;
    eventually("the stuck request to be in flight", || async {
        let short = "taskgate_http_requests_in_flight{class=\"short\"}";
        (metric(&server, short).await >= 1.0).then_some(())
    })
    .await;
    let signalled = Instant::now();
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(1000),
        "it waited for the request, {took:?}"
    );
    assert!(
        server
            .log()
            .contains("did not finish within the shutdown timeout")
    );
}

/// Connections that hold no request (one that sent nothing, one that sent half a head, one
/// kept alive after its request) do not hold up a shutdown: with a 10 s shutdown timeout and
/// minute-long connection timeouts, SIGTERM closes them and the process exits at once.
#[tokio::test]
async fn sigterm_does_not_wait_for_connections_without_a_request() {
    let url = RedisServer::shared().url();
    let mut server = Server::spawn(
        &[
            ("TASKGATE_REDIS_URL", &url),
            ("TASKGATE_SHUTDOWN_TIMEOUT_MS", "10000"),
            ("TASKGATE_HEADER_READ_TIMEOUT_MS", "60000"),
            ("TASKGATE_IDLE_TIMEOUT_MS", "60000"),
        ],
        &[],
    );
    server.wait_up();
    let connect = || TcpStream::connect(("127.0.0.1", server.port));
    let mut silent = connect().await.expect("connect");
    let mut half = connect().await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("send");
    // Served after the two above were accepted (the kernel hands connections over in order).
    let mut kept = connect().await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    let mut answer = [0u8; 17];
    kept.read_exact(&mut answer).await.expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n");

    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(20));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}: {}", server.log());
    assert!(
        took < Duration::from_secs(5),
        "the shutdown waited {took:?} for connections without a request: {}",
        server.log()
    );
    assert!(
        !server
            .log()
            .contains("did not finish within the shutdown timeout"),
        "{}",
        server.log()
    );
    for stream in [&mut silent, &mut half, &mut kept] {
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a connection was left open");
    }
}

/// A long-poll is answered at once, empty, when the server shuts down.
#[tokio::test]
async fn shutdown_answers_waiting_workers_at_once() {
    let mut app = TestApp::start().await;
    let q = queue("shutdown-wait");
    // The queue exists (a submit made it; its task is cancelled), so the waiter's lease call
    // records its worker's name: once it is listed, the call has reached the server and run.
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let cancelled = app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let path = format!("{}/v1/queues/{q}/leases", app.base);
    let waiter = tokio::spawn(async move {
        let reply = reqwest::Client::new()
            .post(path)
            .json(&json!({"wait_ms": 20000, "worker": "waiter"}))
            .send()
            .await
            .expect("long-poll");
        (reply.status(), reply.text().await.unwrap_or_default())
    });
    let (app_ref, q_ref) = (&app, &q);
    eventually("the long-poll to reach the server", || async move {
        let listed = app_ref.get(&format!("/v1/queues/{q_ref}/workers")).await;
        let names = listed.body["workers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        names.iter().any(|w| w["name"] == "waiter").then_some(())
    })
    .await;
    let stopping = Instant::now();
    app.restart(Duration::ZERO).await;
    let (status, body) = waiter.await.expect("waiter");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"leases":[]}"#);
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
}
