//! `GET /v1/queues/{queue}/tasks?state=…`: a page of one state's tasks in that state's order,
//! pages chained by `next_cursor` with nothing skipped or repeated, and bad input refused.

use serde_json::{Value, json};

use crate::harness::{TestApp, queue};

/// Every page of `state`, following `next_cursor`; the payloads' `n`s in the order listed.
async fn all_pages(app: &TestApp, q: &str, state: &str, limit: u32) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/queues/{q}/tasks?state={state}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tasks = reply.body["tasks"].as_array().expect("tasks");
        assert!(tasks.len() <= limit as usize);
        for task in tasks {
            assert_eq!(task["state"], state, "{task}");
            seen.push(task["payload"]["n"].as_i64().expect("n"));
        }
        match &reply.body["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            _ => return seen,
        }
    }
}

#[tokio::test]
async fn ready_tasks_are_listed_in_lease_order_across_pages() {
    let app = TestApp::start().await;
    let q = queue("list-ready");
    // Priorities 0, 1, 2, 0, 1, 2, …: lease order is by priority, then by arrival.
    for n in 0..9 {
        app.submit(&q, json!({"payload": {"n": n}, "priority": n % 3}))
            .await;
    }
    let listed = all_pages(&app, &q, "ready", 2).await;
    assert_eq!(listed, vec![2, 5, 8, 1, 4, 7, 0, 3, 6]);
    // The lease order is the listed order.
    let first = app.lease_one(&q).await;
    assert_eq!(first["task"]["payload"]["n"], 2);
}

#[tokio::test]
async fn each_state_lists_its_own_tasks() {
    let app = TestApp::start().await;
    let q = queue("list-states");
    for n in 0..4 {
        app.submit(&q, json!({"payload": {"n": n}})).await;
    }
    app.submit(&q, json!({"payload": {"n": 10}, "delay_ms": 60000}))
        .await;
    let leased = app.lease_one(&q).await; // n 0
    let acked = app.lease_one(&q).await; // n 1
    let reply = app.worker_call(&acked, "ack", json!({})).await;
    assert_eq!(reply.status, 200);
    let dead = app.lease_one(&q).await; // n 2
    let reply = app
        .worker_call(&dead, "fail", json!({"error": "no", "retry": false}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(all_pages(&app, &q, "ready", 50).await, vec![3]);
    assert_eq!(all_pages(&app, &q, "scheduled", 50).await, vec![10]);
    assert_eq!(all_pages(&app, &q, "leased", 50).await, vec![0]);
    assert_eq!(all_pages(&app, &q, "completed", 50).await, vec![1]);
    assert_eq!(all_pages(&app, &q, "dead", 50).await, vec![2]);
    assert!(all_pages(&app, &q, "cancelled", 50).await.is_empty());
    assert_eq!(leased["task"]["payload"]["n"], 0);
    // The dead-letter listing is the same page.
    let dead_page = app.get(&format!("/v1/queues/{q}/dead")).await;
    assert_eq!(dead_page.body["tasks"][0]["payload"]["n"], 2);
}

#[tokio::test]
async fn a_bad_state_limit_or_cursor_is_a_problem_naming_it() {
    let app = TestApp::start().await;
    let q = queue("list-bad");
    for (query, field) in [
        ("", "state"),
        ("state=running", "state"),
        ("state=ready&limit=0", "limit"),
        ("state=ready&cursor=12_nope", "cursor"),
        (
            "state=ready&cursor=1_0123456789abcdeX:01a218b9-67c7-75c3-867e-618ff9eaf7f1",
            "cursor",
        ),
        ("state=ready&colour=red", "colour"),
    ] {
        let reply = app.get(&format!("/v1/queues/{q}/tasks?{query}")).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{query}: {}",
            reply.body
        );
    }
}

/// A record the scripts cannot read (another version's, or corrupted) is left out of a
/// listing instead of failing it; the rest of the page is served.
#[tokio::test]
async fn an_unreadable_record_is_left_out_of_a_listing() {
    let app = TestApp::start().await;
    let q = queue("list-corrupt");
    let mut ids = Vec::new();
    for n in 0..3 {
        let task = app.submit(&q, json!({"payload": {"n": n}})).await;
        ids.push(task["id"].as_str().expect("id").to_owned());
    }
    let meta = format!("{}:{{q:{q}}}:meta", app.prefix);
    let _: i64 = crate::harness::RedisServer::shared()
        .cmd(&["HSET", &meta, &ids[1], "{not json"])
        .await;
    assert_eq!(all_pages(&app, &q, "ready", 50).await, vec![0, 2]);
}
