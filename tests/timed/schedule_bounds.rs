//! Due schedules are found by their next tick, not by a walk of them all (SPEC §10): with
//! 10,000 schedules in a queue and one of them due every second, the sweep's scripts stay
//! under 1 ms at the 90th percentile by Redis's own clock (SLOWLOG). And a queue holds at most
//! `SCHEDULES_MAX` of them.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::bounds::{ONE_AT_A_TIME, scripts_run, watch_commands};
use crate::harness::{RedisServer, TestApp, queue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_schedules_with_one_due_cost_a_sweep_under_a_millisecond() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=100"]).await;
    let q = queue("many-schedules");
    // 9,999 yearly schedules, and one every second.
    let yearly = json!({"cron": "0 0 1 1 *", "task": {"payload": "new year"}});
    futures_util::stream::iter(0..9_999)
        .map(|n| {
            let (app, q, body) = (&app, &q, &yearly);
            async move {
                let path = format!("/v1/queues/{q}/schedules/yearly-{n:05}");
                let reply = app.request(Method::PUT, &path, Some(body)).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let every = json!({"every_ms": 1000, "task": {"payload": "tick"}});
    let path = format!("/v1/queues/{q}/schedules/every-second");
    let reply = app.request(Method::PUT, &path, Some(&every)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // The cap: a 10,001st schedule is refused, and nothing of it is stored.
    let over = app
        .request(
            Method::PUT,
            &format!("/v1/queues/{q}/schedules/one-too-many"),
            Some(&every),
        )
        .await;
    over.assert_problem(409, "conflict");
    let stored: i64 = redis
        .cmd(&["HLEN", &format!("{}:{{q:{q}}}:schedules", app.prefix)])
        .await;
    assert_eq!(stored, 10_000);

    watch_commands(&redis).await;
    let before = app.queue_stats(&q).await["totals"]["submitted"].as_i64();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let after = app.queue_stats(&q).await["totals"]["submitted"].as_i64();
    let scripts = scripts_run(&redis).await;
    let fired = after.unwrap_or(0) - before.unwrap_or(0);
    assert!(
        (3..=4).contains(&fired),
        "{fired} runs in 3.5 s of an every-second schedule"
    );
    // A sweep script every 100 ms, and a due read and a fire for each run.
    assert!(scripts.len() >= 30, "{} scripts", scripts.len());
    let mut micros: Vec<i64> = scripts.iter().map(|(us, _)| *us).collect();
    micros.sort_unstable();
    let p90 = micros[micros.len() * 9 / 10];
    eprintln!(
        "10,000 schedules, one due: {} scripts, p90 {p90} µs, max {} µs, {fired} runs",
        micros.len(),
        micros[micros.len() - 1]
    );
    assert!(p90 < 1_000, "sweep scripts p90 {p90} µs: {micros:?}");
}
