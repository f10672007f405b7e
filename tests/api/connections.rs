//! What one client connection may cost: a connection that sends nothing, or half a request
//! head, or its head a byte at a time, is closed after the header timeout; a kept-alive one is
//! closed after the idle timeout (and only then); requests in progress (long-polls, result
//! waits, event streams) are never cut by either; connections past the limit are refused as
//! they are accepted.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{RedisServer, TestApp, queue};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// Reads one whole response to a request without a body of its own (its head, then as many
/// bytes as its `content-length` says); returns its status line.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let reading = async {
        loop {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "closed before a whole response");
            seen.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&seen).into_owned();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return text.lines().next().unwrap_or("").to_owned();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("a response within 10 s")
}

/// Waits (up to `within`) until the server closes `stream`; returns what it sent before.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(within, reading)
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after {within:?}"));
    String::from_utf8_lossy(&seen).into_owned()
}

/// With a 400 ms header timeout: a connection that sends nothing, one that sends half a head
/// and stops, and one that sends its head a byte every 50 ms (each byte in time, the whole far
/// too slow) are each closed once 400 ms have passed, and not before.
#[tokio::test]
async fn connections_that_send_no_whole_head_are_closed_after_the_header_timeout() {
    let app = TestApp::start_with(
        RedisServer::shared(),
        &["--header-read-timeout-ms=400", "--idle-timeout-ms=60000"],
    )
    .await;
    let started = Instant::now();
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("send");
    let trickle = connect(&app).await;
    let (mut trickle_read, mut trickle_write) = trickle.into_split();
    let writer = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain([b'a'; 200].iter());
        for byte in head {
            if trickle_write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    for (what, stream) in [("silent", &mut silent), ("half a head", &mut half)] {
        let sent = closed_within(stream, Duration::from_secs(5)).await;
        assert_eq!(sent, "", "{what}: closed without an answer");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{what}: closed after {:?}, before the timeout",
            started.elapsed()
        );
    }
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buffer = [0u8; 64];
        loop {
            match trickle_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the trickling head was still open after 5 s"
    );
    writer.await.expect("writer");
    // A client that sends its head in time is served as ever.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// A kept-alive connection may stay quiet for the idle timeout (here 3 s), longer than the
/// header timeout (300 ms), and serve its next request; then, quiet for the whole idle timeout,
/// it is closed.
#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let app = TestApp::start_with(
        RedisServer::shared(),
        &["--header-read-timeout-ms=300", "--idle-timeout-ms=3000"],
    )
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(GET_HEALTHZ).await.expect("send");
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    // Quiet for longer than the header timeout: only the idle timeout applies between
    // requests. (Far below the idle timeout, so a slow machine does not matter.)
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(GET_HEALTHZ).await.expect("send");
    assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
    let idle_from = Instant::now();
    let sent = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(sent, "");
    assert!(
        idle_from.elapsed() >= Duration::from_millis(2900),
        "closed after {:?} of idle time, before the idle timeout",
        idle_from.elapsed()
    );
}

/// Requests that wait are busy, not idle: with both timeouts at 200 ms, a long-poll of 1.5 s,
/// a result wait of 1 s and an event stream that lives for a second all run to their end.
#[tokio::test]
async fn waiting_requests_are_never_cut_by_the_connection_timeouts() {
    let app = TestApp::start_with(
        RedisServer::shared(),
        &["--header-read-timeout-ms=200", "--idle-timeout-ms=200"],
    )
    .await;
    let q = queue("patient-connections");
    let started = Instant::now();
    let reply = app
        .post(&format!("/v1/queues/{q}/leases"), json!({"wait_ms": 1500}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["leases"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(1500));

    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let reply = app
        .get(&format!("/v1/queues/{q}/tasks/{id}?wait_ms=1000"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(started.elapsed() >= Duration::from_millis(1000));

    let mut events = app
        .client
        .get(format!("{}/v1/queues/{q}/tasks/{id}/events", app.base))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    let first = events.chunk().await.expect("a chunk").expect("an event");
    assert!(String::from_utf8_lossy(&first).contains("ready"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let lease = app.lease_one(&q).await;
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let mut rest = String::new();
    let reading = async {
        while let Some(chunk) = events.chunk().await.expect("the stream went on") {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("the stream ended");
    assert!(rest.contains("event: completed"), "{rest}");
}

/// At `--max-connections=2`, with two connections open, a third is refused as it is accepted:
/// a `503` problem, then closed. Once one closes, new connections are served again.
#[tokio::test]
async fn connections_past_the_limit_are_refused_at_accept() {
    let app = TestApp::start_with(RedisServer::shared(), &["--max-connections=2"]).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(GET_HEALTHZ).await.expect("send");
        assert_eq!(read_response(&mut stream).await, "HTTP/1.1 200 OK");
        open.push(stream);
    }
    let mut third = connect(&app).await;
    let sent = closed_within(&mut third, Duration::from_secs(5)).await;
    assert!(sent.starts_with("HTTP/1.1 503"), "{sent}");
    assert!(sent.contains("\"type\":\"unavailable\""), "{sent}");
    assert!(
        sent.to_ascii_lowercase().contains("retry-after: 1"),
        "{sent}"
    );
    drop(open.pop());
    crate::harness::eventually("a connection to be served again", || async {
        let mut stream = connect(&app).await;
        stream.write_all(GET_HEALTHZ).await.ok()?;
        let mut buffer = [0u8; 32];
        let n = stream.read(&mut buffer).await.ok()?;
        String::from_utf8_lossy(&buffer[..n])
            .starts_with("HTTP/1.1 200")
            .then_some(())
    })
    .await;
}
