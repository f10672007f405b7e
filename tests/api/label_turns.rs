//! Requirements and the groups' turns: a group no worker could serve banks no turns under
//! `fair`, a group whose next task comes to need labels wakes a waiting worker that has them,
//! and explain does not call a task certain to go next while tasks that need labels wait.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// The payloads of `leases`, as strings.
fn payloads(leases: &[Value]) -> Vec<String> {
    leases
        .iter()
        .map(|l| l["task"]["payload"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Under `fair`, group B's tasks need a GPU; while only a CPU worker leases (20 turns of group
/// A), B is not served, and its pass stays behind the clock. When a GPU group C arrives, a GPU
/// worker alternates B and C from the start: B banked no turns while no worker could serve it.
#[tokio::test]
async fn a_group_no_worker_could_serve_banks_no_turns() {
    let app = TestApp::start().await;
    let q = queue("labels-bank");
    app.patch_policy(&q, json!({"strategy": "fair"})).await;
    let gpu = json!({"gpu": "a100"});
    for n in 0..10 {
        app.submit(
            &q,
            json!({"payload": format!("B{n}"), "group": "B", "requires": gpu}),
        )
        .await;
    }
    for n in 0..20 {
        app.submit(&q, json!({"payload": format!("A{n}"), "group": "A"}))
            .await;
    }
    for _ in 0..20 {
        let cpu = app.lease(&q, json!({"max_tasks": 1})).await;
        assert!(payloads(&cpu)[0].starts_with('A'), "{cpu:?}");
    }
    for n in 0..3 {
        app.submit(
            &q,
            json!({"payload": format!("C{n}"), "group": "C", "requires": gpu}),
        )
        .await;
    }
    let mut order = Vec::new();
    for _ in 0..4 {
        let leases = app
            .lease(&q, json!({"max_tasks": 1, "labels": {"gpu": "a100"}}))
            .await;
        order.extend(payloads(&leases));
    }
    let groups: String = order.iter().map(|p| &p[..1]).collect();
    assert_eq!(groups, "BCBC", "{order:?}");
}

/// An ordered group's first task (no requirements) is out; its second needs a GPU. A CPU
/// worker and then a GPU worker wait on one instance, the CPU one first in line. When the first
/// task is acked, the group's next task needs a GPU: the GPU worker is woken and gets it at
/// once, not at its safety re-check 20 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_whose_next_task_needs_labels_wakes_a_worker_with_them() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &[]).await);
    let q = queue("labels-wake-group");
    let ordered = json!({"groups": {"ordered": true}});
    app.patch_policy(&q, ordered).await;
    // A task no worker here may take keeps the instance from remembering the queue as empty,
    // so both waiters make their first lease call (and show in the workers view).
    app.submit(&q, json!({"payload": "tpu", "requires": {"tpu": "v4"}}))
        .await;
    app.submit(&q, json!({"payload": "first", "group": "g"}))
        .await;
    let second = app
        .submit(
            &q,
            json!({"payload": "second", "group": "g", "requires": {"gpu": "a100"}}),
        )
        .await;
    let first = app.lease(&q, json!({"worker": "starter"})).await;
    assert_eq!(payloads(&first), ["first"]);

    let wait = |worker: &'static str, labels: Value| {
        let (app, q) = (app.clone(), q.clone());
        tokio::spawn(async move {
            let body = json!({"worker": worker, "labels": labels, "wait_ms": 10000});
            app.post(&format!("/v1/queues/{q}/leases"), body).await
        })
    };
    let listed = |names: usize| {
        let (app, q) = (app.clone(), q.clone());
        async move {
            eventually(&format!("{names} workers listed"), || async {
                let workers = app.get(&format!("/v1/queues/{q}/workers")).await.body;
                let n = workers["workers"].as_array().map_or(0, Vec::len);
                (n == names).then_some(())
            })
            .await;
        }
    };
    let cpu = wait("cpu", json!({}));
    listed(2).await;
    let gpu = wait("gpu", json!({"gpu": "a100"}));
    listed(3).await;
    app.subscribed(&redis, &q).await;

    let acked = app.worker_call(&first[0], "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    let reply = tokio::time::timeout(Duration::from_secs(5), gpu)
        .await
        .expect("the GPU worker was not woken")
        .expect("gpu waiter");
    assert_eq!(reply.body["leases"][0]["task"]["id"], second["id"]);
    assert!(!cpu.is_finished() || cpu.await.expect("cpu").body["leases"] == json!([]));
}

/// A plain task first in line under `priority` is certain to go next only while no ready task
/// needs labels: a GPU task of a higher priority goes first for a GPU worker, so explain says
/// `at_least`, and not `runnable_now`.
#[tokio::test]
async fn explain_is_not_certain_while_tasks_that_need_labels_wait() {
    let app = TestApp::start().await;
    let q = queue("labels-explain-exact");
    let plain = app.submit(&q, json!({"payload": "plain"})).await;
    let id = plain["id"].as_str().expect("id");
    let path = format!("/v1/queues/{q}/tasks/{id}/explain");
    let alone = app.get(&path).await.body;
    assert_eq!(alone["runnable_now"], true, "{alone}");
    app.submit(
        &q,
        json!({"payload": "gpu", "priority": 9, "requires": {"gpu": "a100"}}),
    )
    .await;
    let beside = app.get(&path).await.body;
    assert_eq!(beside["runnable_now"], false, "{beside}");
    let behind = beside["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["code"] == "behind")
        .cloned()
        .unwrap_or_default();
    assert_eq!(behind["exact"], false, "{beside}");
    let leased = app
        .lease(&q, json!({"labels": {"gpu": "a100"}, "max_tasks": 1}))
        .await;
    assert_eq!(payloads(&leased), ["gpu"]);
}

/// A task waiting behind its group's next task, which needs labels no worker seen lately has,
/// is told so (`group_next_needs_labels`, with that task and its requirements); the next task
/// itself is told `no_matching_worker` instead.
#[tokio::test]
async fn explain_names_a_group_waiting_for_labels_no_worker_has() {
    let app = TestApp::start().await;
    let q = queue("labels-explain-group");
    let head = app
        .submit(
            &q,
            json!({"payload": "gpu", "group": "g", "requires": {"gpu": "a100"}}),
        )
        .await;
    let behind = app
        .submit(&q, json!({"payload": "plain", "group": "g"}))
        .await;
    app.lease(&q, json!({"worker": "cpu-1"})).await;
    let explain = |id: &Value| {
        let path = format!("/v1/queues/{q}/tasks/{}/explain", id.as_str().expect("id"));
        let app = &app;
        async move { app.get(&path).await.body }
    };
    let codes = |answer: &Value| -> Vec<String> {
        answer["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r["code"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let waiting = explain(&behind["id"]).await;
    let reason = waiting["reasons"][0].clone();
    assert_eq!(reason["code"], "group_next_needs_labels", "{waiting}");
    assert_eq!(reason["task_id"], head["id"]);
    assert_eq!(reason["requires"], json!({"gpu": "a100"}));
    let first = explain(&head["id"]).await;
    assert!(
        codes(&first).contains(&"no_matching_worker".to_owned()),
        "{first}"
    );
    assert!(!codes(&first).contains(&"group_next_needs_labels".to_owned()));
}
