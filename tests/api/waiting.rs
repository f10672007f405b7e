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

/// A user of `redis` whose ACL grants no pub/sub channel (every `SUBSCRIBE` is refused); the
/// flag that connects as it.
async fn user_without_channels(redis: &RedisServer) -> String {
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
    format!(
        "--redis-url=redis://nochannels:secret-pw@127.0.0.1:{}",
        redis.port
    )
}

/// While a worker long-polls (and so wants a subscription) as a user who may not subscribe,
/// taskgate retries with a pause that doubles each time, instead of opening connection after
/// connection as fast as it can (it used to open thousands in these three seconds).
#[tokio::test]
async fn a_refused_subscription_is_retried_with_a_growing_pause() {
    let redis = RedisServer::start();
    let url = user_without_channels(&redis).await;
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

/// Script calls Redis has taken so far (`FCALL`, `EVALSHA` and `EVAL`, answered or refused).
async fn script_calls(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "commandstats"]).await;
    info.lines()
        .filter(|l| {
            ["cmdstat_fcall:", "cmdstat_evalsha:", "cmdstat_eval:"]
                .iter()
                .any(|c| l.starts_with(c))
        })
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
/// (The user may not subscribe, so the stream cannot trust notifications and re-reads every
/// 2 s instead of on its long safety interval.)
#[tokio::test]
async fn an_event_streams_rereads_write_nothing() {
    let redis = RedisServer::start();
    let url = user_without_channels(&redis).await;
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0", &url]).await;
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

/// A user that may not publish or subscribe (an ACL without channel rights) still submits,
/// leases and acks: the notification a call publishes is best effort, never the call's failure
/// (a submit used to answer 500 after storing its task).
#[tokio::test]
async fn a_user_without_channel_rights_still_submits_leases_and_acks() {
    let redis = RedisServer::start();
    let url = user_without_channels(&redis).await;
    let app = TestApp::start_with(&redis, &[&url]).await;
    let q = queue("nochannels-work");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, 200, "{}", acked.body);
}

/// Redis commands run so far (every command, those inside scripts included).
async fn commands_run(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "commandstats"]).await;
    info.lines()
        .filter(|l| l.starts_with("cmdstat_"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// A thousand workers long-polling an empty queue (each with a `request_id`, as the example
/// workers send) cost Redis next to nothing while they wait: under 100 commands a second
/// (they used to re-run the lease script every 2 s: about 3,000 commands a second). A task
/// submitted meanwhile still wakes exactly one of them at once.
#[tokio::test]
async fn a_thousand_idle_waiters_cost_redis_under_100_commands_a_second() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("idle-thousand");
    let url = format!("{}/v1/queues/{q}/leases", app.base);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2000)
        .build()
        .expect("client");
    let waiters: Vec<_> = (0..1000)
        .map(|n| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({"wait_ms": 30000, "request_id": format!("poll-{n}")});
                let reply = client.post(&url).json(&body).send().await.expect("lease");
                crate::harness::Reply::read(reply).await
            })
        })
        .collect();
    let metrics = format!("{}/metrics", app.base);
    crate::harness::eventually("1000 waiting requests", || async {
        let text = app
            .client
            .get(&metrics)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let waiting = text
            .lines()
            .find_map(|l| l.strip_prefix("taskgate_http_requests_in_flight{class=\"waiting\"} "))?
            .parse::<f64>()
            .ok()?;
        (waiting >= 1000.0).then_some(())
    })
    .await;
    // A request counts as waiting before its first look: on a busy machine some of those
    // looks (a lease script, or an HEXISTS of its request id) still run after the count is
    // reached. The idle cost is measured once they are done: Redis quiet for 200 ms (a waiter
    // that re-checked on its own, as they once did every 2 s, would never let it be).
    crate::harness::eventually("the waiters' first looks to end", || async {
        let before = commands_run(&redis).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (commands_run(&redis).await - before < 5).then_some(())
    })
    .await;
    let (before, started) = (commands_run(&redis).await, Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_second = (commands_run(&redis).await - before) as f64 / started.elapsed().as_secs_f64();
    assert!(
        per_second < 100.0,
        "{per_second:.0} Redis commands a second"
    );
    let submitted = Instant::now();
    let task = app.submit(&q, json!({"payload": "wake one"})).await;
    let mut woken = None;
    for waiter in &waiters {
        if waiter.is_finished() {
            woken = Some(());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut answered = Vec::new();
    while answered.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answered = waiters
            .iter()
            .enumerate()
            .filter(|(_, w)| w.is_finished())
            .map(|(n, _)| n)
            .collect();
    }
    let after = submitted.elapsed();
    assert!(woken.is_none(), "a waiter answered before the task came");
    assert_eq!(
        answered.len(),
        1,
        "one waiter is answered, not {}",
        answered.len()
    );
    assert!(
        after < Duration::from_millis(500),
        "woken {after:?} after the submit"
    );
    let reply = waiters
        .into_iter()
        .nth(answered[0])
        .expect("the waiter")
        .await
        .expect("joined");
    assert_eq!(reply.body["leases"][0]["task"]["id"], task["id"]);
}

/// The pub/sub connection is killed under a waiting worker, and a task is submitted at once:
/// the waiter, told the connection dropped, looks again every 2 s until it is back (and then at
/// once), so it gets the task within seconds, not at its 20–30 s safety check.
#[tokio::test]
async fn a_waiter_gets_a_task_submitted_while_its_subscription_was_down() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("pubsub-killed");
    let waiter = app.long_poll(&q);
    app.subscribed(&redis, &q).await;
    let killed: i64 = redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert!(killed >= 1);
    let submitted = Instant::now();
    let task = app.submit(&q, json!({"payload": "while down"})).await;
    let leased = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter was answered within 5 s")
        .expect("joined");
    assert_eq!(leased["leases"][0]["task"]["id"], task["id"], "{leased}");
    assert!(submitted.elapsed() < Duration::from_secs(4));
}
