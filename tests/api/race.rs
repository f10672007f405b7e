//! Competing workers: two workers racing over the same queue, each through its own taskgate
//! instance on the same Redis, never hold the same task at once, and every task is completed
//! exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

const TASKS: usize = 500;

/// Leases and acks until the queue is empty; returns the ids of the tasks this worker completed.
async fn work(app: Arc<TestApp>, q: String, name: &'static str) -> Vec<String> {
    let mut done = Vec::new();
    loop {
        let leases = app
            .lease(
                &q,
                json!({"worker": name, "max_tasks": 7, "lease_ms": 60000}),
            )
            .await;
        if leases.is_empty() {
            return done;
        }
        for lease in leases {
            let acked = app
                .worker_call(&lease, "ack", json!({"result": name}))
                .await;
            assert_eq!(acked.status, StatusCode::OK, "{name}: {}", acked.body);
            assert!(
                acked.headers.get("idempotent-replayed").is_none(),
                "{name} got a replay"
            );
            done.push(
                lease["task"]["id"]
                    .as_str()
                    .expect("a leased task has an id")
                    .to_owned(),
            );
        }
    }
}

/// Two workers racing for 500 tasks through two instances: no task is handed to both, and each
/// is completed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_never_share_a_task_and_complete_each_once() {
    let app = Arc::new(TestApp::start().await);
    let same_data = format!("--key-prefix={}", app.prefix);
    let other = Arc::new(TestApp::start_with(RedisServer::shared(), &[&same_data]).await);
    let q = queue("race");
    let mut submitted = HashSet::new();
    for n in 0..TASKS {
        let task = app.submit(&q, json!({"payload": n})).await;
        submitted.insert(
            task["id"]
                .as_str()
                .expect("a new task has an id")
                .to_owned(),
        );
    }
    assert_eq!(submitted.len(), TASKS);

    let a = tokio::spawn(work(app.clone(), q.clone(), "worker-a"));
    let b = tokio::spawn(work(other.clone(), q.clone(), "worker-b"));
    let (a, b) = (a.await.expect("worker a"), b.await.expect("worker b"));
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both workers got work: {} / {}",
        a.len(),
        b.len()
    );

    let all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    let distinct: HashSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), TASKS, "deliveries");
    assert_eq!(distinct, submitted, "every task delivered exactly once");

    for id in a.iter().take(20).chain(b.iter().take(20)) {
        let task: Value = app.task(&q, id).await;
        assert_eq!(task["state"], "completed");
        assert_eq!(task["attempts"], 1);
    }
}
