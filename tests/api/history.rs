//! A queue's history: the per-minute counts add up to a workload of known size, the samples
//! say what the queue held, the ring's memory stays the same however many minutes go by, and a
//! bad window is refused naming it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

/// The sum of `field` over the points of a history.
fn sum(history: &Value, field: &str) -> u64 {
    history["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p[field].as_u64().expect("a count"))
        .sum()
}

#[tokio::test]
async fn the_per_minute_counts_add_up_to_the_workload() {
    let app = TestApp::start().await;
    let q = queue("history");
    for n in 0..30 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let leases = app.lease(&q, json!({"max_tasks": 20})).await;
    assert_eq!(leases.len(), 20);
    for lease in &leases[..15] {
        assert_eq!(
            app.worker_call(lease, "ack", json!({})).await.status,
            StatusCode::OK
        );
    }
    for lease in &leases[15..] {
        let failed = app
            .worker_call(lease, "fail", json!({"error": "no", "retry": false}))
            .await;
        assert_eq!(failed.status, StatusCode::OK);
    }
    for n in 0..2 {
        let task = app
            .submit(&q, json!({"payload": n, "start_within_ms": 50}))
            .await;
        app.task_when(&q, task["id"].as_str().expect("id"), |t| {
            t["state"] == "dead"
        })
        .await;
    }
    let reply = app.get(&format!("/v1/queues/{q}/history")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let history = reply.body;
    assert_eq!(history["window"], "1h");
    assert_eq!(history["step_ms"], 60_000);
    assert_eq!(history["points"].as_array().map(Vec::len), Some(60));
    assert_eq!(sum(&history, "submitted"), 32);
    assert_eq!(sum(&history, "completed"), 15);
    assert_eq!(sum(&history, "failed"), 5);
    assert_eq!(sum(&history, "dead"), 7);
    assert_eq!(sum(&history, "expired"), 2);
    let now = &history["points"][59];
    assert_eq!(
        (now["backlog"].clone(), now["in_flight"].clone()),
        (json!(10), json!(0))
    );
    let day = app.get(&format!("/v1/queues/{q}/history?window=24h")).await;
    assert_eq!(day.body["points"].as_array().map(Vec::len), Some(1440));
    assert_eq!(
        sum(&day.body, "submitted"),
        32,
        "the day holds the same workload"
    );
}

/// 2,000 minutes of snapshots, written as the sweep writes them: the ring holds one day, and
/// its memory after 2,000 minutes is what it was after 1,440.
#[tokio::test]
async fn the_history_ring_stays_the_same_size_over_2000_minutes() {
    let app = TestApp::start().await;
    let q = queue("history-ring");
    app.submit(&q, json!({"payload": 1})).await;
    let config = taskgate::config::Config::load_from([
        "taskgate".to_owned(),
        format!("--redis-url={}", RedisServer::shared().url()),
        format!("--key-prefix={}", app.prefix),
    ])
    .expect("config");
    let store = taskgate::state_from_config(&config).expect("store").store;
    let name = taskgate::model::QueueName::parse(&q).expect("name");
    let key = format!("{}:{{q:{q}}}:history", app.prefix);
    let start = 29_000_000_i64; // minutes since the epoch: 2025
    let mut sizes = Vec::new();
    for minute in start..start + 2_000 {
        store
            .queues
            .note_history(&name, minute)
            .await
            .expect("noted");
        if minute - start + 1 == 1_440 || minute - start + 1 == 2_000 {
            let fields: i64 = RedisServer::shared().cmd(&["HLEN", &key]).await;
            let bytes: i64 = RedisServer::shared()
                .cmd(&["MEMORY", "USAGE", &key, "SAMPLES", "0"])
                .await;
            sizes.push((fields, bytes));
        }
    }
    assert_eq!(sizes[0].0, 1_440);
    assert_eq!(
        sizes[1], sizes[0],
        "fields and bytes after 1,440 and 2,000 minutes"
    );
}

#[tokio::test]
async fn a_bad_window_or_an_unknown_queue_is_refused() {
    let app = TestApp::start().await;
    let q = queue("history-bad");
    app.submit(&q, json!({"payload": 1})).await;
    let bad = app.get(&format!("/v1/queues/{q}/history?window=7d")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "window", "{}", bad.body);
    let unknown = app.get("/v1/queues/no-such-queue-history/history").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
