//! Schedules when Redis misbehaves: a lost due set heals (the sweep mends it), a record that
//! no longer reads stops firing but can be replaced, a damaged run log starts afresh, and a
//! full Redis refuses a new schedule whole while a pause and a delete still work; a run the
//! queue refuses is listed with its reason.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};

async fn schedule(app: &TestApp, q: &str, name: &str) -> crate::reply::Reply {
    app.get(&format!("/v1/queues/{q}/schedules/{name}")).await
}

async fn fired(app: &TestApp, q: &str, name: &str) -> u64 {
    schedule(app, q, name).await.body["runs"]["fired"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_lost_due_set_heals_and_a_broken_record_waits_to_be_replaced() {
    let redis = RedisServer::shared();
    let app = TestApp::start().await;
    let q = queue("sched-faults");
    let key = |role: &str| format!("{}:{{q:{q}}}:{role}", app.prefix);
    let body = json!({"every_ms": 1000, "task": {"payload": 1}});
    let put = app
        .request(
            Method::PUT,
            &format!("/v1/queues/{q}/schedules/a"),
            Some(&body),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    eventually("a first run", || async {
        (fired(&app, &q, "a").await >= 1).then_some(())
    })
    .await;

    // The due set deleted under it: the schedule is mended back and runs again.
    let () = redis.cmd(&["DEL", &key("sdue")]).await;
    let before = fired(&app, &q, "a").await;
    eventually("a run after the due set was lost", || async {
        (fired(&app, &q, "a").await > before).then_some(())
    })
    .await;

    // A damaged run log: the next run starts a new one.
    let () = redis.cmd(&["HSET", &key("sruns"), "a", "{not json"]).await;
    eventually("a run with a fresh log", || async {
        let s = schedule(&app, &q, "a").await.body;
        (s["runs"]["fired"] == 1 && s["last_runs"].as_array().map(Vec::len) == Some(1))
            .then_some(())
    })
    .await;

    // A record that does not read: taken out of the due set, not fired, answered as a 500.
    let () = redis
        .cmd(&["HSET", &key("schedules"), "a", "9 {broken"])
        .await;
    eventually("the broken schedule out of the due set", || async {
        let due: Option<String> = redis.cmd(&["ZSCORE", &key("sdue"), "a"]).await;
        due.is_none().then_some(())
    })
    .await;
    schedule(&app, &q, "a")
        .await
        .assert_problem(500, "internal");
    let trigger = app
        .request(
            Method::POST,
            &format!("/v1/queues/{q}/schedules/a:trigger"),
            None,
        )
        .await;
    trigger.assert_problem(500, "internal");
    // Replaced, at a version past the broken one's, it runs again.
    let replaced = app
        .request(
            Method::PUT,
            &format!("/v1/queues/{q}/schedules/a"),
            Some(&body),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert!(
        replaced.body["version"].as_u64() > Some(9),
        "{}",
        replaced.body
    );
    let runs = fired(&app, &q, "a").await;
    eventually("a run after the replacement", || async {
        (fired(&app, &q, "a").await > runs).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_full_redis_refuses_a_new_schedule_but_pauses_and_deletes_one() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("sched-full");
    let path = |name: &str| format!("/v1/queues/{q}/schedules/{name}");
    let body = json!({"every_ms": 1000, "task": {"payload": "x".repeat(2048)}});
    assert_eq!(
        app.request(Method::PUT, &path("keep"), Some(&body))
            .await
            .status,
        StatusCode::CREATED
    );
    let used = redis.memory("used_memory").await;
    redis.config_set("maxmemory", &used.to_string()).await;
    let refused = app.request(Method::PUT, &path("new"), Some(&body)).await;
    refused.assert_problem(503, "unavailable");
    app.get(&path("new")).await.assert_problem(404, "not-found");

    let paused = app
        .request(Method::PATCH, &path("keep"), Some(&json!({"paused": true})))
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["status"], "paused");
    let resumed = app
        .request(
            Method::PATCH,
            &path("keep"),
            Some(&json!({"paused": false})),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(
        app.delete(&path("keep")).await.status,
        StatusCode::NO_CONTENT
    );
    redis.config_set("maxmemory", "0").await;
    let left: Value = app.get(&format!("/v1/queues/{q}/schedules")).await.body;
    assert_eq!(left["schedules"], json!([]));
}

/// A run the queue refuses (its payload over a cap lowered since) is a failed run, listed with
/// its reason in words, and the schedule goes on with its ticks.
#[tokio::test]
async fn a_refused_run_is_listed_with_its_reason_and_the_schedule_goes_on() {
    let app = TestApp::start().await;
    let q = queue("sched-refused");
    let body = json!({"every_ms": 1000, "task": {"payload": {"report": "too big for 10 bytes"}}});
    let path = format!("/v1/queues/{q}/schedules/big");
    assert_eq!(
        app.request(Method::PUT, &path, Some(&body)).await.status,
        StatusCode::CREATED
    );
    app.patch_policy(&q, json!({"max_payload_bytes": 10})).await;
    let refused = eventually("two refused runs", || async {
        let s = schedule(&app, &q, "big").await.body;
        (s["runs"]["failed"].as_u64() >= Some(2)).then_some(s)
    })
    .await;
    let run = &refused["last_runs"][0];
    assert_eq!(run["kind"], "tick", "{refused}");
    assert_eq!(run["task_id"], Value::Null, "{refused}");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_payload_bytes")),
        "{refused}"
    );
    assert_eq!(refused["runs"]["fired"], 0);
    assert_eq!(refused["status"], "active");
    let trigger = app
        .request(Method::POST, &format!("{path}:trigger"), None)
        .await;
    trigger.assert_problem(413, "payload-too-large");
}

/// Redis stalls (a long script) past the client's response timeout while ticks come due: the
/// sweep's calls time out, the scripts they sent still run once Redis is back, and each tick is
/// run once or counted missed: none twice, none lost.
#[tokio::test]
async fn a_stall_past_the_response_timeout_neither_doubles_nor_loses_a_tick() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(
        &redis,
        &[
            "--reaper-interval-ms=100",
            "--redis-response-timeout-ms=500",
        ],
    )
    .await;
    let q = queue("sched-stall");
    let start = (redis.now_ms().await / 1000 + 1) * 1000;
    let body = json!({"every_ms": 1000, "start_at": taskgate::model::rfc3339_ms(start),
                      "task": {"payload": 1}});
    let path = format!("/v1/queues/{q}/schedules/s");
    assert_eq!(
        app.request(Method::PUT, &path, Some(&body)).await.status,
        StatusCode::CREATED
    );
    eventually("two runs", || async {
        (fired(&app, &q, "s").await >= 2).then_some(())
    })
    .await;
    let stall = redis.stall(2500);
    tokio::task::spawn_blocking(move || stall.join())
        .await
        .expect("join")
        .expect("stall thread");
    let stalled_until = redis.now_ms().await;
    let after = eventually("a run after the stall", || async {
        let s = schedule(&app, &q, "s").await.body;
        let last = s["last_runs"][0]["at"]
            .as_str()
            .map(taskgate::model::parse_rfc3339_ms);
        (last.flatten() > Some(stalled_until)).then_some(s)
    })
    .await;
    let runs = after["last_runs"].as_array().expect("runs");
    let ticks: Vec<i64> = runs
        .iter()
        .map(|r| taskgate::model::parse_rfc3339_ms(r["at"].as_str().expect("at")).expect("time"))
        .collect();
    let distinct: std::collections::BTreeSet<&str> =
        runs.iter().filter_map(|r| r["task_id"].as_str()).collect();
    assert_eq!(distinct.len(), runs.len(), "a tick run twice: {after}");
    let fired = after["runs"]["fired"].as_u64().expect("fired");
    let missed = after["runs"]["missed"].as_u64().expect("missed");
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["submitted"], fired, "{stats}");
    // Every tick from the first (start_at) to the last run was run or counted missed.
    let ticks_between = ((ticks[0] - start) / 1000 + 1) as u64;
    assert_eq!(fired + missed, ticks_between, "{after}");
    assert!(missed >= 1, "the stall's ticks were missed: {after}");
}
