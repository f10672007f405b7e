//! The shipped example worker (`examples/worker.py`, standard-library Python) works against
//! the real server: polyglot workers need nothing but HTTP.

use std::process::Command;

use serde_json::json;

use crate::harness::{TestApp, queue};

/// The Python example drains a queue, and every task ends `completed` with its echo result.
#[tokio::test]
async fn python_example_worker_completes_every_task() {
    let app = TestApp::start().await;
    let q = queue("python");
    let mut ids = Vec::new();
    for n in 0..15 {
        let task = app.submit(&q, json!({"payload": {"n": n}})).await;
        ids.push(task["id"].as_str().unwrap_or_default().to_owned());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.py");
    let (base, queue_name) = (app.base.clone(), q.clone());
    let status = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, "--base", &base, "--queue", &queue_name, "--drain"])
            .status()
    })
    .await
    .expect("join")
    .expect("run python3 examples/worker.py");
    assert!(status.success(), "the example worker failed: {status}");
    for (n, id) in ids.iter().enumerate() {
        let task = app.task(&q, id).await;
        assert_eq!(task["state"], "completed");
        assert_eq!(task["result"], json!({"echo": {"n": n}}));
        assert_eq!(task["worker"], "python-example");
    }
}
