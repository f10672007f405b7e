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

/// Script calls Redis has taken so far (`EVALSHA` and `EVAL`, answered or refused).
async fn script_calls(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "commandstats"]).await;
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .flat_map(|l| l.split(&[':', ','][..]))
        .filter_map(|field| field.split_once('='))
        .filter(|(name, _)| matches!(*name, "calls" | "failed_calls" | "rejected_calls"))
        .filter_map(|(_, n)| n.parse::<u64>().ok())
        .sum()
}

/// A client retries a long poll with the same `request_id` while its first call is still
/// waiting on the server. When a task comes (it wakes one waiter of the instance), one call leases it and
/// the other answers the same lease at once (as a replay): one attempt is used, the lease is not
/// forgotten, and the second call does not sit out its wait (it used to learn of the lease only
/// at its 2 s re-check).
#[tokio::test]
async fn calls_waiting_with_one_request_id_answer_the_same_lease_at_once() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("request-join");
    let body = json!({"wait_ms": 10000, "request_id": "retry me", "lease_ms": 60000});
    let call = |app: &TestApp| {
        let url = format!("{}/v1/queues/{q}/leases", app.base);
        let (client, body) = (app.client.clone(), body.clone());
        tokio::spawn(async move { client.post(url).json(&body).send().await })
    };
    let before = script_calls(&redis).await;
    let first = call(&app);
    let second = call(&app);
    // Both calls have tried once (no other script runs: the sweep is off) and wait.
    crate::harness::eventually("both calls to wait", || async {
        (script_calls(&redis).await >= before + 2).then_some(())
    })
    .await;
    let submitted = Instant::now();
    let task = app.submit(&q, json!({"payload": "once"})).await;
    let mut answers = Vec::new();
    for call in [first, second] {
        let reply = crate::harness::Reply::read(call.await.expect("joined").expect("sent")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let replayed = reply.headers.get("idempotent-replayed").is_some();
        let lease = &reply.body["leases"][0];
        answers.push((
            lease["lease_id"].clone(),
            lease["task"]["id"].clone(),
            replayed,
        ));
    }
    let waited = submitted.elapsed();
    assert!(
        waited < Duration::from_millis(1500),
        "answered {waited:?} after the submit"
    );
    assert!(answers[0].0.is_string(), "{answers:?}");
    assert_eq!(answers[0].0, answers[1].0, "both answer the same lease");
    assert_eq!(answers[0].1, task["id"]);
    assert_eq!(
        answers.iter().filter(|a| a.2).count(),
        1,
        "one is the replay"
    );
    let now = app.task(&q, task["id"].as_str().expect("id")).await;
    assert_eq!(now["attempts"], 1, "one attempt was used");
}
