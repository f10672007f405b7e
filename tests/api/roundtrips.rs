//! The hot path's cost in Redis: submit, lease and ack each send exactly one command to Redis
//! (one FCALL). Counted with `MONITOR` on a Redis of the test's own, which lists every
//! command clients send, and marks the commands a script runs inside Redis as `[... lua]`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;

use deadpool_redis::redis;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, queue};

/// A MONITOR session on its own thread, sending each line it sees.
fn monitor(redis: &RedisServer) -> mpsc::Receiver<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port)).expect("connect for MONITOR");
    stream.write_all(b"MONITOR\r\n").expect("MONITOR");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The client commands seen since the last call, up to the `ECHO marker` sent now.
async fn commands_until_marker(
    lines: &mpsc::Receiver<String>,
    conn: &mut redis::aio::MultiplexedConnection,
    marker: &str,
) -> Vec<String> {
    let _: String = redis::cmd("ECHO")
        .arg(marker)
        .query_async(conn)
        .await
        .expect("ECHO");
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("MONITOR line");
        if line.contains(&format!("\"{marker}\"")) {
            return seen;
        }
        // Client commands look like `+<time> [0 127.0.0.1:port] "fcall" ...`; the commands a
        // script runs inside Redis are `[0 lua]` and cost no round trip.
        if line.starts_with('+') && line.contains(" [") && !line.contains(" lua] ") && line != "+OK"
        {
            seen.push(
                line.split(" \"")
                    .nth(1)
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_lowercase(),
            );
        }
    }
}

/// The commands clients sent to `redis` while `during` ran (the commands scripts run inside
/// Redis excepted), lowercased.
pub async fn commands_during<F, Fut>(redis: &RedisServer, during: F) -> Vec<String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let lines = monitor(redis);
    let mut conn = redis.connection().await;
    commands_until_marker(&lines, &mut conn, "before").await;
    during().await;
    commands_until_marker(&lines, &mut conn, "after").await
}

/// Each of submit, lease and ack costs one Redis round trip: one FCALL and nothing else.
#[tokio::test]
async fn submit_lease_and_ack_are_one_redis_command_each() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("hot-path");
    // Warm up: open the pooled connection, register the queue, load the scripts (an ack with
    // a result runs its own script variant).
    for n in 0..2 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let warm = app.lease_one(&q).await;
    app.worker_call(&warm, "ack", json!({})).await;
    let warm = app.lease_one(&q).await;
    app.worker_call(&warm, "ack", json!({"result": 0})).await;

    let lines = monitor(&redis);
    let mut conn = redis.connection().await;
    commands_until_marker(&lines, &mut conn, "start").await;

    app.submit(&q, json!({"payload": 1})).await;
    assert_eq!(
        commands_until_marker(&lines, &mut conn, "m1").await,
        vec!["fcall"],
        "submit"
    );

    let lease = app.lease_one(&q).await;
    assert_eq!(
        commands_until_marker(&lines, &mut conn, "m2").await,
        vec!["fcall"],
        "lease"
    );

    let acked = app.worker_call(&lease, "ack", json!({"result": 1})).await;
    assert_eq!(acked.status, reqwest::StatusCode::OK);
    assert_eq!(
        commands_until_marker(&lines, &mut conn, "m3").await,
        vec!["fcall"],
        "ack"
    );
}
