//! `GET …/tasks/{id}/explain`: one test per reason code, each produced by setting up its cause
//! and reading it back; a task runnable now says so.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::grouping::patch_group;
use crate::harness::{TestApp, queue};

pub async fn explain(app: &TestApp, q: &str, task: &Value) -> Value {
    let id = task["id"].as_str().expect("id");
    let reply = app.get(&format!("/v1/queues/{q}/tasks/{id}/explain")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The codes of an explanation's reasons, in order.
pub fn codes(explained: &Value) -> Vec<&str> {
    explained["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["code"].as_str().expect("code"))
        .collect()
}

/// The reason with `code`.
pub fn reason<'a>(explained: &'a Value, code: &str) -> &'a Value {
    explained["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {explained}"))
}

/// A queue a worker has asked lately (its lease took nothing), so `no_workers` stays out of the
/// way of the reason under test.
pub async fn asked(app: &TestApp, q: &str) {
    app.submit(q, json!({"payload": "first"})).await;
    let lease = app.lease_one(q).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_task_nothing_holds_is_runnable_now() {
    let app = TestApp::start().await;
    let q = queue("explain-now");
    asked(&app, &q).await;
    let task = app.submit(&q, json!({"payload": 1})).await;
    let explained = explain(&app, &q, &task).await;
    assert_eq!(explained["state"], "ready");
    assert_eq!(explained["runnable_now"], true, "{explained}");
    assert_eq!(codes(&explained), ["behind"]);
    assert_eq!(reason(&explained, "behind")["ahead"], 0);
    assert_eq!(reason(&explained, "behind")["exact"], true);
}

#[tokio::test]
async fn behind_counts_the_tasks_ahead() {
    let app = TestApp::start().await;
    let q = queue("explain-behind");
    asked(&app, &q).await;
    for n in 0..3 {
        app.submit(&q, json!({"payload": n, "priority": 5})).await;
    }
    let low = app.submit(&q, json!({"payload": "low"})).await;
    let explained = explain(&app, &q, &low).await;
    assert_eq!(explained["runnable_now"], false);
    let behind = reason(&explained, "behind");
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(3), json!(true))
    );
    assert_eq!(behind["scope"], "queue");
    // In a group under fair turns: exact within its group.
    let fair = queue("explain-behind-fair");
    asked(&app, &fair).await;
    app.patch_policy(&fair, json!({"strategy": "fair"})).await;
    app.submit(&fair, json!({"payload": 1, "group": "g"})).await;
    let second = app.submit(&fair, json!({"payload": 2, "group": "g"})).await;
    let explained = explain(&app, &fair, &second).await;
    let behind = reason(&explained, "behind");
    assert_eq!(behind["ahead"], 1);
    assert_eq!(behind["scope"], "group");
    assert_eq!(behind["exact"], true);
}

#[tokio::test]
async fn scheduled_says_until_when() {
    let app = TestApp::start().await;
    let q = queue("explain-scheduled");
    let task = app
        .submit(&q, json!({"payload": 1, "delay_ms": 60_000}))
        .await;
    let explained = explain(&app, &q, &task).await;
    assert_eq!(explained["state"], "scheduled");
    assert_eq!(codes(&explained), ["scheduled"]);
    assert_eq!(reason(&explained, "scheduled")["until"], task["run_at"]);
    assert_eq!(explained["runnable_now"], false);
}

#[tokio::test]
async fn queue_paused() {
    let app = TestApp::start().await;
    let q = queue("explain-paused");
    asked(&app, &q).await;
    app.patch_policy(&q, json!({"paused": true})).await;
    let task = app.submit(&q, json!({"payload": 1})).await;
    let explained = explain(&app, &q, &task).await;
    assert_eq!(codes(&explained), ["queue_paused", "behind"]);
    assert_eq!(explained["runnable_now"], false);
}

#[tokio::test]
async fn queue_max_in_flight_gives_n_of_n() {
    let app = TestApp::start().await;
    let q = queue("explain-cap");
    app.patch_policy(&q, json!({"max_in_flight": 1})).await;
    app.submit(&q, json!({"payload": 1})).await;
    app.lease_one(&q).await;
    let task = app.submit(&q, json!({"payload": 2})).await;
    let explained = explain(&app, &q, &task).await;
    let cap = reason(&explained, "queue_max_in_flight");
    assert_eq!(
        (cap["in_flight"].clone(), cap["limit"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(explained["runnable_now"], false);
}

#[tokio::test]
async fn queue_rate_limited_says_when_the_next_token_comes() {
    let app = TestApp::start().await;
    let q = queue("explain-rate");
    app.patch_policy(&q, json!({"rate_limit": {"per_second": 0.01, "burst": 1}}))
        .await;
    app.submit(&q, json!({"payload": 1})).await;
    app.lease_one(&q).await;
    let task = app.submit(&q, json!({"payload": 2})).await;
    let explained = explain(&app, &q, &task).await;
    let wait = reason(&explained, "queue_rate_limited")["retry_in_ms"]
        .as_u64()
        .expect("ms");
    assert!((90_000..=100_000).contains(&wait), "{wait}");
}

#[tokio::test]
async fn group_paused() {
    let app = TestApp::start().await;
    let q = queue("explain-group-paused");
    asked(&app, &q).await;
    let task = app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    patch_group(&app, &q, "g", json!({"paused": true})).await;
    let explained = explain(&app, &q, &task).await;
    assert_eq!(reason(&explained, "group_paused")["group"], "g");
    assert_eq!(explained["runnable_now"], false);
}

#[tokio::test]
async fn group_max_in_flight_gives_n_of_n() {
    let app = TestApp::start().await;
    let q = queue("explain-group-cap");
    app.patch_policy(&q, json!({"groups": {"max_in_flight": 1}}))
        .await;
    app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    app.lease_one(&q).await;
    let task = app.submit(&q, json!({"payload": 2, "group": "g"})).await;
    let explained = explain(&app, &q, &task).await;
    let cap = reason(&explained, "group_max_in_flight");
    assert_eq!(
        (
            cap["group"].clone(),
            cap["in_flight"].clone(),
            cap["limit"].clone()
        ),
        (json!("g"), json!(1), json!(1))
    );
}

#[tokio::test]
async fn group_rate_limited_says_when_the_next_token_comes() {
    let app = TestApp::start().await;
    let q = queue("explain-group-rate");
    app.patch_policy(
        &q,
        json!({"groups": {"rate_limit": {"per_second": 0.01, "burst": 1}}}),
    )
    .await;
    app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    app.lease_one(&q).await;
    let task = app.submit(&q, json!({"payload": 2, "group": "g"})).await;
    let explained = explain(&app, &q, &task).await;
    let rate = reason(&explained, "group_rate_limited");
    assert_eq!(rate["group"], "g");
    let wait = rate["retry_in_ms"].as_u64().expect("ms");
    assert!((90_000..=100_000).contains(&wait), "{wait}");
}

#[tokio::test]
async fn ordered_group_busy_names_the_task_out() {
    let app = TestApp::start().await;
    let q = queue("explain-ordered");
    app.patch_policy(&q, json!({"groups": {"ordered": true}}))
        .await;
    let first = app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    let second = app.submit(&q, json!({"payload": 2, "group": "g"})).await;
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], first["id"]);
    let explained = explain(&app, &q, &second).await;
    let busy = reason(&explained, "ordered_group_busy");
    assert_eq!(busy["task_id"], first["id"]);
    assert_eq!(busy["task_state"], "leased");
    assert_eq!(explained["runnable_now"], false);
}

#[tokio::test]
async fn no_workers_until_a_worker_asks() {
    let app = TestApp::start().await;
    let q = queue("explain-no-workers");
    let task = app.submit(&q, json!({"payload": 1, "priority": -1})).await;
    let explained = explain(&app, &q, &task).await;
    let none = reason(&explained, "no_workers");
    assert!(none.get("last_lease_at").is_none(), "{none}");
    assert_eq!(
        explained["runnable_now"], true,
        "no worker is not a hold: {explained}"
    );
    // A lease call that takes another task counts as a worker asking.
    app.submit(&q, json!({"payload": 2, "priority": 5})).await;
    app.lease_one(&q).await;
    let explained = explain(&app, &q, &task).await;
    assert_eq!(codes(&explained), ["behind"], "{explained}");
}

#[tokio::test]
async fn leased_and_finished_tasks_say_who_holds_them_or_how_they_ended() {
    let app = TestApp::start().await;
    let q = queue("explain-done");
    let task = app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease(&q, json!({"worker": "gpu-7"})).await.remove(0);
    let explained = explain(&app, &q, &task).await;
    assert_eq!(explained["state"], "leased");
    let held = reason(&explained, "leased");
    assert_eq!(held["worker"], "gpu-7");
    assert_eq!(held["until"], lease["expires_at"]);
    let failed = app
        .worker_call(
            &lease,
            "fail",
            json!({"error": "disk full", "retry": false}),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    let explained = explain(&app, &q, &task).await;
    let dead = reason(&explained, "dead");
    assert!(
        dead["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(": disk full")),
        "{dead}"
    );
    assert_eq!(dead["attempts"], 1);

    let done = app.submit(&q, json!({"payload": 2})).await;
    let lease = app.lease_one(&q).await;
    app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(codes(&explain(&app, &q, &done).await), ["completed"]);
    let cancelled = app.submit(&q, json!({"payload": 3})).await;
    let id = cancelled["id"].as_str().expect("id");
    app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await;
    let explained = explain(&app, &q, &cancelled).await;
    assert_eq!(codes(&explained), ["cancelled"]);
    assert_eq!(explained["runnable_now"], false);

    let missing = app
        .get(&format!(
            "/v1/queues/{q}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/explain"
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
