//! Queues as wholes: listing and stats that agree with what happened, dead letters (list,
//! redrive, purge), cancel, and deletion that leaves no key behind.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

fn id(task: &Value) -> String {
    task["id"].as_str().expect("task id").to_owned()
}

/// Fails the leased task without retry, making it dead.
async fn bury(app: &TestApp, lease: &Value) {
    let dead = app
        .worker_call(
            lease,
            "fail",
            json!({"error": "gone for good", "retry": false}),
        )
        .await;
    assert_eq!(dead.body["state"], "dead", "{}", dead.body);
}

/// A dead task is listed with its last error, comes back by redrive (attempts reset, history
/// kept) and can be leased and acked.
#[tokio::test]
async fn redrive_brings_a_dead_task_back() {
    let app = TestApp::start().await;
    let q = queue("redrive");
    let task = app.submit(&q, json!({"payload": 1})).await;
    bury(&app, &app.lease_one(&q).await).await;

    let dead = app.get(&format!("/v1/queues/{q}/dead")).await;
    assert_eq!(dead.status, StatusCode::OK);
    assert_eq!(dead.body["tasks"][0]["id"], task["id"]);
    assert_eq!(dead.body["tasks"][0]["last_error"], "gone for good");
    assert_eq!(dead.body["next_cursor"], Value::Null);

    let redriven = app
        .post(
            &format!("/v1/queues/{q}/dead:redrive"),
            json!({"ids": [task["id"]]}),
        )
        .await;
    assert_eq!(redriven.body, json!({"redriven": 1}));
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], task["id"]);
    assert_eq!(lease["attempt"], 1, "attempts were reset");
    assert_eq!(
        lease["task"]["errors"][0]["message"], "gone for good",
        "history kept"
    );
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.body["state"], "completed");
}

/// 250 dead tasks: listed page by page (each exactly once), redriven all at once in bounded
/// batches, then, dead again, purged all at once.
#[tokio::test]
async fn dead_letters_page_redrive_and_purge_in_bulk() {
    let app = TestApp::start().await;
    let q = queue("dead-bulk");
    for n in 0..250 {
        app.submit(&q, json!({"payload": n, "max_attempts": 1}))
            .await;
    }
    for lease in app.lease(&q, json!({"max_tasks": 100})).await {
        bury(&app, &lease).await;
    }
    for _ in 0..2 {
        for lease in app.lease(&q, json!({"max_tasks": 100})).await {
            bury(&app, &lease).await;
        }
    }
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/queues/{q}/dead?limit=100&cursor={c}"),
            None => format!("/v1/queues/{q}/dead?limit=100"),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        for task in page.body["tasks"].as_array().expect("tasks") {
            assert!(seen.insert(id(task)), "{} listed twice", id(task));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(pages >= 3);
    let bad = app
        .get(&format!("/v1/queues/{q}/dead?cursor=nonsense"))
        .await;
    bad.assert_problem(422, "validation");

    let redriven = app
        .post(&format!("/v1/queues/{q}/dead:redrive"), json!({}))
        .await;
    assert_eq!(redriven.body, json!({"redriven": 250}));
    assert_eq!(app.queue_stats(&q).await["counts"]["ready"], 250);
    loop {
        let leases = app.lease(&q, json!({"max_tasks": 100})).await;
        if leases.is_empty() {
            break;
        }
        for lease in leases {
            bury(&app, &lease).await;
        }
    }
    assert_eq!(app.queue_stats(&q).await["counts"]["dead"], 250);
    let purged = app.delete(&format!("/v1/queues/{q}/dead")).await;
    assert_eq!(purged.body, json!({"purged": 250}));
    // Now empty, the queue may already be forgotten by the sweep (404); if not, it has no dead.
    let stats = app.get(&format!("/v1/queues/{q}")).await;
    match stats.status.as_u16() {
        200 => assert_eq!(stats.body["counts"]["dead"], 0, "{}", stats.body),
        status => assert_eq!(status, 404, "{}", stats.body),
    }
    let listed = app.get(&format!("/v1/queues/{q}/dead")).await;
    match listed.status.as_u16() {
        200 => assert_eq!(listed.body, json!({"tasks": [], "next_cursor": null})),
        status => assert_eq!(status, 404, "{}", listed.body),
    }
}

/// Cancelling a leased task ends its lease: the worker's heartbeat and ack are 409 lease-lost.
/// A repeat is 200 with the task; a completed task cannot be cancelled (409 conflict); ready and
/// scheduled tasks are cancelled before anyone leases them.
#[tokio::test]
async fn cancel_ends_leases_and_keeps_tasks_from_running() {
    let app = TestApp::start().await;
    let q = queue("cancel");
    let leased = app.submit(&q, json!({"payload": "leased"})).await;
    let lease = app.lease_one(&q).await;
    let path = format!("/v1/queues/{q}/tasks/{}", id(&leased));
    let cancelled = app.delete(&path).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    app.worker_call(&lease, "heartbeat", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    app.worker_call(&lease, "ack", json!({}))
        .await
        .assert_problem(409, "lease-lost");
    let again = app.delete(&path).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["state"], "cancelled");

    let ready = app.submit(&q, json!({"payload": "ready"})).await;
    let later = app
        .submit(&q, json!({"payload": "later", "delay_ms": 1000}))
        .await;
    for task in [&ready, &later] {
        let reply = app
            .delete(&format!("/v1/queues/{q}/tasks/{}", id(task)))
            .await;
        assert_eq!(reply.body["state"], "cancelled");
    }
    assert!(app.lease(&q, json!({"max_tasks": 10})).await.is_empty());

    let done = app.submit(&q, json!({"payload": "done"})).await;
    let lease = app.lease_one(&q).await;
    app.worker_call(&lease, "ack", json!({})).await;
    app.delete(&format!("/v1/queues/{q}/tasks/{}", id(&done)))
        .await
        .assert_problem(409, "conflict");
    app.delete(&format!(
        "/v1/queues/{q}/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11"
    ))
    .await
    .assert_problem(404, "not-found");
}

/// A mixed workload of 1000 tasks (scheduled, ready, leased, acked, retried, dead, cancelled):
/// the queue's counts and totals agree with what happened.
#[tokio::test]
async fn queue_stats_agree_with_a_mixed_workload() {
    let app = TestApp::start().await;
    let q = queue("mixed");
    assert_eq!(
        app.get(&format!("/v1/queues/{q}")).await.status,
        StatusCode::NOT_FOUND
    );
    let mut ids = Vec::new();
    for n in 0..900 {
        ids.push(id(&app
            .submit(&q, json!({"payload": n, "max_attempts": 3}))
            .await));
    }
    for n in 0..100 {
        app.submit(&q, json!({"payload": n, "delay_ms": 3_600_000}))
            .await;
    }
    let mut leases = Vec::new();
    let deadline = crate::harness::Deadline::after(std::time::Duration::from_secs(30));
    while leases.len() < 600 {
        deadline.check("600 leases");
        leases.extend(app.lease(&q, json!({"max_tasks": 100})).await);
    }
    // 600 leased: 300 acked, 100 failed for a retry much later, 50 dead, 150 still held.
    for lease in &leases[..300] {
        app.worker_call(lease, "ack", json!({})).await;
    }
    for lease in &leases[300..400] {
        app.worker_call(
            lease,
            "fail",
            json!({"error": "later", "retry_in_ms": 3_600_000}),
        )
        .await;
    }
    for lease in &leases[400..450] {
        bury(&app, lease).await;
    }
    // 300 still ready: cancel 20 of them.
    let leased_ids: HashSet<String> = leases.iter().map(|l| id(&l["task"])).collect();
    for ready in ids.iter().filter(|i| !leased_ids.contains(*i)).take(20) {
        app.delete(&format!("/v1/queues/{q}/tasks/{ready}")).await;
    }
    let stats = app.queue_stats(&q).await;
    assert_eq!(
        stats["counts"],
        json!({"waiting": 0, "scheduled": 200, "ready": 280, "leased": 150, "completed": 300, "dead": 50, "cancelled": 20, "quarantined": 0})
    );
    assert_eq!(
        stats["totals"],
        json!({"submitted": 1000, "completed": 300, "failed": 150, "dead": 50, "expired": 0, "debounced": 0})
    );
    assert!(stats["oldest_ready_age_ms"].as_u64().is_some(), "{stats}");
    assert_eq!(stats["name"], json!(q));
    assert_eq!(stats["policy"]["lease_ms"], 30000);
}

/// Queues are listed in name order, a page at a time, each once; setting a policy alone
/// creates a queue.
#[tokio::test]
async fn queues_are_listed_page_by_page() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    for name in ["a-one", "b-two", "c-three", "d-four"] {
        app.submit(name, json!({"payload": name})).await;
    }
    app.patch_policy("e-five", json!({"paused": true})).await;
    let mut names = Vec::new();
    let mut path = "/v1/queues?limit=2".to_owned();
    loop {
        let page = crate::harness::eventually("the queues to be registered", || {
            let path = path.clone();
            let app = &app;
            async move {
                let page = app.get(&path).await;
                (page.status == StatusCode::OK).then_some(page)
            }
        })
        .await;
        for q in page.body["queues"].as_array().expect("queues") {
            names.push(q["name"].as_str().expect("name").to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/queues?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names, ["a-one", "b-two", "c-three", "d-four", "e-five"]);
    app.get("/v1/queues?limit=0")
        .await
        .assert_problem(422, "validation");
    app.get("/v1/queues?page=2")
        .await
        .assert_problem(422, "validation");
}

/// Deleting a queue removes every one of its keys (checked with SCAN) and its registry entry; a
/// worker still holding one of its leases gets 404, and nothing crashes.
#[tokio::test]
async fn deleting_a_queue_removes_every_key() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("doomed");
    app.patch_policy(&q, json!({"weight": 2})).await;
    for n in 0..50 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let held = app.lease_one(&q).await;
    bury(&app, &app.lease_one(&q).await).await;
    let done = app.lease_one(&q).await;
    app.worker_call(&done, "ack", json!({"result": 1})).await;
    app.lease(&q, json!({"request_id": "r-1"})).await;

    let deleted = app.delete(&format!("/v1/queues/{q}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let pattern = format!("{}:{{q:{q}}}:*", app.prefix);
    let mut cursor = "0".to_owned();
    let mut left: Vec<String> = Vec::new();
    loop {
        let (next, keys): (String, Vec<String>) = redis
            .cmd(&["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])
            .await;
        left.extend(keys);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(left.is_empty(), "keys left: {left:?}");
    let registered: Vec<String> = redis
        .cmd(&["ZRANGE", &format!("{}:queues", app.prefix), "0", "-1"])
        .await;
    assert!(!registered.contains(&q));
    app.worker_call(&held, "ack", json!({}))
        .await
        .assert_problem(404, "not-found");
    app.get(&format!("/v1/queues/{q}"))
        .await
        .assert_problem(404, "not-found");
    app.delete(&format!("/v1/queues/{q}"))
        .await
        .assert_problem(404, "not-found");
}
