//! Natural batching of worker calls: 50 concurrent leases, heartbeats, acks and fails on one
//! queue, and batch acks, each caller getting exactly its own answer (see `batching.rs` for
//! how batches are made certain and counted).

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::batching::{CALLERS, assert_batched, id, setup, together};
use crate::harness::Reply;
use crate::monitor::Monitor;

/// 50 concurrent leases, then heartbeats, then acks and fails (with a stale lease and an
/// unknown task among them), and batch acks holding a stale lease, an unknown task and a good
/// ack: every caller gets exactly its own answer, checked item by item.
#[tokio::test]
async fn concurrent_worker_calls_each_get_their_own_answer() {
    let (redis, app, q) = setup("together-work").await;
    let tasks_path = format!("/v1/queues/{q}/tasks:batch");
    let tasks: Vec<Value> = (0..CALLERS + 3).map(|n| json!({"payload": n})).collect();
    let reply = app.post(&tasks_path, json!({"tasks": tasks})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let monitor = Monitor::start(&redis).await;

    // Leases: each worker its own task, recorded under its own name and lease.
    let worker = |n: usize| format!("{q}-w-{n}");
    let calls = (0..CALLERS)
        .map(|n| {
            let (app, q, worker) = (app.clone(), q.clone(), worker(n));
            async move {
                let body = json!({"max_tasks": 1, "worker": worker});
                app.post(&format!("/v1/queues/{q}/leases"), body).await
            }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    let mut leases = Vec::new();
    let mut seen = HashSet::new();
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::OK, "{n}: {}", reply.body);
        let got = reply.body["leases"].as_array().expect("leases");
        assert_eq!(got.len(), 1, "{n}: {}", reply.body);
        let lease = got[0].clone();
        assert!(seen.insert(id(&lease["task"])), "a task leased twice");
        let task = app.task(&q, &id(&lease["task"])).await;
        assert_eq!(task["worker"], worker(n).as_str());
        assert_eq!(task["leased_until"], lease["expires_at"]);
        leases.push(lease);
    }
    monitor.sync(&redis).await;
    let workers: Vec<String> = (0..CALLERS).map(worker).collect();
    assert_batched(&monitor, &workers, |_| 1);
    monitor.clear();

    // Heartbeats: each its own lease extended to its own length; a stale one is refused.
    let calls = (0..=CALLERS)
        .map(|n| {
            let app = app.clone();
            let mut lease = leases[n % CALLERS].clone();
            if n == CALLERS {
                lease["lease_id"] = json!("not-its-lease");
            }
            async move {
                let body = json!({"lease_ms": 60_000 + n as u64 * 10_000});
                app.worker_call(&lease, "heartbeat", body).await
            }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    for (n, reply) in replies.iter().enumerate().take(CALLERS) {
        assert_eq!(reply.status, StatusCode::OK, "{n}: {}", reply.body);
        let left = reply.body["expires_in_ms"].as_u64().expect("expires_in_ms");
        let asked = 60_000 + n as u64 * 10_000;
        assert!(
            left <= asked && left + 5_000 > asked,
            "{n}: {left} of {asked}"
        );
    }
    replies[CALLERS].assert_problem(409, "lease-lost");
    monitor.sync(&redis).await;
    let lease_ids: Vec<String> = leases
        .iter()
        .map(|l| l["lease_id"].as_str().expect("lease_id").to_owned())
        .collect();
    assert_batched(&monitor, &lease_ids, |_| 1);
    monitor.clear();

    // Acks (even) with their own results and fails (odd) with their own errors, a stale ack
    // and an ack of an unknown task: three lanes (an ack with a result and one without are
    // different scripts, and a fail a third).
    let unknown = json!({"lease_id": "x", "task": {"queue": q, "id": "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11"}});
    let mut stale = leases[0].clone();
    stale["lease_id"] = json!("not-its-lease");
    let calls = (0..CALLERS + 2)
        .map(|n| {
            let app = app.clone();
            let (lease, action, body) = match n {
                n if n == CALLERS => (stale.clone(), "ack", json!({})),
                n if n == CALLERS + 1 => (unknown.clone(), "ack", json!({})),
                n if n % 2 == 0 => (leases[n].clone(), "ack", json!({"result": {"n": n}})),
                n => (
                    leases[n].clone(),
                    "fail",
                    json!({"error": format!("e-{n}")}),
                ),
            };
            async move { app.worker_call(&lease, action, body).await }
        })
        .collect();
    let replies = together(&redis, &app, calls, 3).await;
    replies[CALLERS].assert_problem(409, "lease-lost");
    replies[CALLERS + 1].assert_problem(404, "not-found");
    for (n, lease) in leases.iter().enumerate() {
        assert_eq!(
            replies[n].status,
            StatusCode::OK,
            "{n}: {}",
            replies[n].body
        );
        assert_eq!(
            replies[n].body["id"], lease["task"]["id"],
            "{n}: another task's answer"
        );
        let task = app.task(&q, &id(&lease["task"])).await;
        if n % 2 == 0 {
            assert_eq!(task["state"], "completed", "{n}: {task}");
            assert_eq!(task["result"], json!({"n": n}));
        } else {
            assert_eq!(task["last_error"], format!("e-{n}"), "{n}: {task}");
            assert_eq!(task["attempts_failed"], 1);
        }
    }
    monitor.sync(&redis).await;
    assert_batched(&monitor, &lease_ids, |_| 1);

    // Batch acks: each request its own items; one holds a stale lease, an unknown task and
    // a good ack of the three tasks still ready.
    let more = app.lease(&q, json!({"max_tasks": 3})).await;
    assert_eq!(more.len(), 3);
    let item = |lease: &Value| json!({"id": lease["task"]["id"], "lease_id": lease["lease_id"]});
    let mixed = json!({"acks": [
        {"id": more[0]["task"]["id"], "lease_id": "not-its-lease"},
        {"id": "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11", "lease_id": "x"},
        item(&more[1]),
    ]});
    let bodies = [
        mixed,
        json!({"acks": [item(&more[2])]}),
        json!({"acks": [item(&more[0])]}),
    ];
    let calls = bodies
        .into_iter()
        .map(|body| {
            let (app, path) = (app.clone(), format!("/v1/queues/{q}/acks"));
            async move { app.post(&path, body).await }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    let statuses = |reply: &Reply| -> Vec<u64> {
        let results = reply.body["results"].as_array().expect("results");
        results
            .iter()
            .map(|r| r["status"].as_u64().expect("status"))
            .collect()
    };
    assert_eq!(statuses(&replies[0]), [409, 404, 200]);
    assert_eq!(statuses(&replies[1]), [200]);
    assert_eq!(statuses(&replies[2]), [200]);
    for lease in &more {
        let task = app.task(&q, &id(&lease["task"])).await;
        assert_eq!(task["state"], "completed", "{task}");
    }
}

/// One script call hands out at most 1 MiB of task bytes, however many leases it carries: three
/// leases of two 600 KB tasks each, travelling together, are sent in two script calls and the
/// one left over again, alone; each caller gets two tasks of its own.
#[tokio::test]
async fn leases_travelling_together_share_one_reply_budget() {
    let (redis, app, q) = setup("together-bytes").await;
    let big = "x".repeat(600_000);
    for n in 0..6 {
        app.submit(&q, json!({"payload": {"n": n, "big": big}}))
            .await;
    }
    let monitor = Monitor::start(&redis).await;
    let worker = |n: usize| format!("{q}-w-{n}");
    let calls = (0..3)
        .map(|n| {
            let (app, q, worker) = (app.clone(), q.clone(), worker(n));
            async move {
                let body = json!({"max_tasks": 2, "worker": worker});
                app.post(&format!("/v1/queues/{q}/leases"), body).await
            }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    let mut seen = HashSet::new();
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::OK, "{n}");
        let leases = reply.body["leases"].as_array().expect("leases");
        assert_eq!(leases.len(), 2, "caller {n}");
        for lease in leases {
            assert!(seen.insert(id(&lease["task"])), "a task leased twice");
        }
    }
    monitor.sync(&redis).await;
    let workers: Vec<String> = (0..3).map(worker).collect();
    let (scripts, carried) = monitor.scripts_carrying(&workers);
    assert_eq!(
        scripts, 3,
        "the leader, the batch of two, the one sent again"
    );
    let mut carried = carried;
    carried.sort_unstable();
    assert_eq!(carried, [1, 1, 2]);
}
