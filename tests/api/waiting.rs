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

/// The Redis clock, in ms since the epoch.
async fn redis_now_ms(redis: &RedisServer) -> i64 {
    let time: Vec<String> = redis.cmd(&["TIME"]).await;
    let (secs, micros): (i64, i64) = (time[0].parse().expect("s"), time[1].parse().expect("us"));
    secs * 1000 + micros / 1000
}

/// A stream on a task that will not finish soon ends at the server's longest stream time with
/// a `reconnect` event (and an SSE `retry`), which `EventSource` answers by connecting again. A
/// stream used to live as long as its task, a year for a task scheduled a year out.
#[tokio::test]
async fn an_event_stream_ends_with_a_reconnect_event_at_its_lifetime() {
    let app = TestApp::start_with(RedisServer::shared(), &["--event-stream-max-ms=1000"]).await;
    let q = queue("stream-life");
    let task = app
        .submit(&q, json!({"payload": 1, "delay_ms": 31_536_000_000_i64}))
        .await;
    let url = format!(
        "{}/v1/queues/{q}/tasks/{}/events",
        app.base,
        task["id"].as_str().expect("id")
    );
    let started = Instant::now();
    let events = app.client.get(url).send().await.expect("the stream");
    let text = tokio::time::timeout(Duration::from_secs(10), events.text())
        .await
        .expect("the stream ended")
        .expect("its body");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["scheduled", "reconnect"], "{text}");
    assert!(text.lines().any(|l| l == "retry: 1000"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

/// A stream's periodic re-reads write nothing: with no sweep and no other call, a lease that
/// runs out under a watching stream stays as stored (the sweep settles it, and the stream then
/// hears of it). They used to settle the expiry themselves, so every idle stream could write.
#[tokio::test]
async fn an_event_streams_rereads_write_nothing() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("stream-reads");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = &app.lease(&q, json!({"lease_ms": 1000})).await[0];
    let id = lease["task"]["id"].as_str().expect("id").to_owned();
    let url = format!("{}/v1/queues/{q}/tasks/{id}/events", app.base);
    let events = app.client.get(url).send().await.expect("the stream");
    let until = crate::harness::ms(&lease["expires_at"]);
    crate::harness::eventually("the lease to run out", || async {
        (redis_now_ms(&redis).await > until).then_some(())
    })
    .await;
    // Two re-reads after the deadline (scripts: nothing else runs one).
    let before = script_calls(&redis).await;
    crate::harness::eventually("two re-reads by the stream", || async {
        (script_calls(&redis).await >= before + 2).then_some(())
    })
    .await;
    let stored = app.stored_meta(&q, &id).await.expect("the task");
    assert_eq!(
        stored["state"], "leased",
        "a re-read settled the expiry: {stored}"
    );
    drop(events);
}
