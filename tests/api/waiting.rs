//! Waiting workers and the pub/sub connection that wakes them: what it costs Redis when it
//! cannot subscribe, and how lease calls that share a `request_id` meet.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{RedisServer, TestApp, queue};

/// Connections Redis has accepted so far (`INFO stats`).
async fn connections_received(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "stats"]).await;
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_connections_received in INFO stats")
}

/// A user whose ACL grants no pub/sub channel: every `SUBSCRIBE` is refused. While a worker
/// long-polls (and so wants a subscription), taskgate retries with a pause that doubles each
/// time, instead of opening connection after connection as fast as it can (it used to open
/// thousands in these three seconds).
#[tokio::test]
async fn a_refused_subscription_is_retried_with_a_growing_pause() {
    let redis = RedisServer::start();
    let () = redis
        .cmd(&[
            "ACL",
            "SETUSER",
            "nochannels",
            "on",
            ">secret-pw",
            "~*",
            "resetchannels",
            "+@all",
        ])
        .await;
    let url = format!(
        "--redis-url=redis://nochannels:secret-pw@127.0.0.1:{}",
        redis.port
    );
    let app = TestApp::start_with(&redis, &[&url]).await;
    let q = queue("nochannels");
    let before = connections_received(&redis).await;
    let started = Instant::now();
    let waited = app
        .post(&format!("/v1/queues/{q}/leases"), json!({"wait_ms": 3000}))
        .await;
    assert_eq!(waited.status, 200, "{}", waited.body);
    assert!(started.elapsed() >= Duration::from_millis(2900));
    let opened = connections_received(&redis).await - before;
    // Pauses of 0.5, 1 and 2 s: at most a handful of attempts (plus the data connections).
    assert!(opened <= 8, "{opened} connections opened in 3 s");
}
