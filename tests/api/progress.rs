//! Progress reports: a heartbeat's `progress` is kept on the task as its current attempt's,
//! shown by GET and sent to the task's event streams as a `progress` event; a new attempt
//! starts without one; a report over the bound is refused and changes nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, queue};

/// An open event stream, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, queue: &str, id: &str) -> Self {
        let url = format!("{}/v1/queues/{queue}/tasks/{id}/events", app.base);
        let response = app.client.get(url).send().await.expect("the stream");
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data, or `None` when the stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let name = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(name), Some(data)) = (name, data) {
                    let data = serde_json::from_str(data).expect("JSON data");
                    return Some((name.to_owned(), data));
                }
                continue; // a keep-alive comment
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream's body")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

#[tokio::test]
async fn a_heartbeats_progress_reaches_get_and_the_event_stream() {
    let app = TestApp::start().await;
    let q = queue("progress");
    let task = app.submit(&q, json!({"payload": "resize"})).await;
    let id = task["id"].as_str().expect("id");
    let lease = app.lease_one(&q).await;
    let mut stream = Stream::open(&app, &q, id).await;
    let (first, _) = stream.next().await.expect("the current state");
    assert_eq!(first, "leased");

    for done in [40, 80] {
        let beat = app
            .worker_call(
                &lease,
                "heartbeat",
                json!({"progress": {"done": done, "of": 100}}),
            )
            .await;
        assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
        let (name, data) = stream.next().await.expect("a progress event");
        assert_eq!(name, "progress");
        assert_eq!(data["progress"], json!({"done": done, "of": 100}));
        assert_eq!(data["state"], "leased");
    }
    let shown = app.task(&q, id).await;
    assert_eq!(shown["progress"], json!({"done": 80, "of": 100}));
    assert!(shown["progress_at"].is_string(), "{shown}");

    // A heartbeat without progress keeps the last report and sends no event: the next event
    // the stream gets is the ack's.
    let plain = app.worker_call(&lease, "heartbeat", json!({})).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(
        app.task(&q, id).await["progress"],
        json!({"done": 80, "of": 100})
    );
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    let (name, data) = stream.next().await.expect("the ack's event");
    assert_eq!(name, "completed");
    assert_eq!(
        data["progress"],
        json!({"done": 80, "of": 100}),
        "kept once finished"
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends with the task"
    );
}

#[tokio::test]
async fn a_new_attempt_starts_without_the_last_ones_progress() {
    let app = TestApp::start().await;
    let q = queue("progress-retry");
    app.patch_policy(&q, json!({"backoff": {"initial_ms": 0, "jitter": 0}}))
        .await;
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let first = app.lease_one(&q).await;
    let beat = app
        .worker_call(&first, "heartbeat", json!({"progress": "half way"}))
        .await;
    assert_eq!(beat.status, StatusCode::OK);
    let failed = app
        .worker_call(&first, "fail", json!({"error": "crashed"}))
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    let second = app.lease_when_ready(&q, json!({"max_tasks": 1})).await;
    assert_eq!(second["attempt"], 2);
    assert!(second["task"].get("progress").is_none(), "{second}");
    assert!(app.task(&q, id).await.get("progress").is_none());
    // `null` is a report too (any JSON value), and replaces nothing of another attempt's.
    let beat = app
        .worker_call(&second, "heartbeat", json!({"progress": null}))
        .await;
    assert_eq!(beat.status, StatusCode::OK);
    let shown = app.task(&q, id).await;
    assert_eq!(shown.get("progress"), Some(&Value::Null), "{shown}");
    assert!(shown["progress_at"].is_string());
}

/// A redriven task's attempts count from 0 again: its first new attempt must not show the
/// report of the dead attempt that had the same number.
#[tokio::test]
async fn a_redriven_task_starts_without_its_dead_attempts_progress() {
    let app = TestApp::start().await;
    let q = queue("progress-redrive");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let lease = app.lease_one(&q).await;
    let beat = app
        .worker_call(&lease, "heartbeat", json!({"progress": "stuck at 90%"}))
        .await;
    assert_eq!(beat.status, StatusCode::OK);
    let failed = app
        .worker_call(&lease, "fail", json!({"error": "gave up", "retry": false}))
        .await;
    assert_eq!(failed.body["state"], "dead", "{}", failed.body);
    assert_eq!(app.task(&q, id).await["progress"], "stuck at 90%");

    let redriven = app
        .post(
            &format!("/v1/queues/{q}/dead:redrive"),
            json!({"ids": [id]}),
        )
        .await;
    assert_eq!(redriven.body, json!({"redriven": 1}));
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["attempt"], 1);
    assert!(lease["task"].get("progress").is_none(), "{lease}");
    assert!(app.task(&q, id).await.get("progress").is_none());
}

#[tokio::test]
async fn a_progress_report_over_the_bound_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let q = queue("progress-bound");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let id = task["id"].as_str().expect("id");
    let lease = app.lease_one(&q).await;
    let before = app.task(&q, id).await["leased_until"].clone();
    // 4096 bytes of JSON text is the bound: a string of 4094 characters and its two quotes.
    let fits = json!({"progress": "p".repeat(4094), "lease_ms": 600_000});
    let over = json!({"progress": "p".repeat(4095), "lease_ms": 900_000});
    let refused = app.worker_call(&lease, "heartbeat", over).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("progress is 4097 bytes")),
        "{}",
        refused.body
    );
    let after = app.task(&q, id).await;
    assert_eq!(after["leased_until"], before, "the lease was not extended");
    assert!(after.get("progress").is_none());
    let accepted = app.worker_call(&lease, "heartbeat", fits).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(
        app.task(&q, id).await["progress"].as_str().map(str::len),
        Some(4094)
    );
}
