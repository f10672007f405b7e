//! The shipped example worker (`examples/worker.py`, standard-library Python) is product:
//! users copy it. Run against the real server, it completes every task exactly once through a
//! server restart and jobs longer than their lease, and stops gracefully on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{TestApp, eventually, queue};

const WORKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.py");

fn start_worker(app: &TestApp, q: &str, extra: &[&str]) -> Child {
    Command::new("python3")
        .arg(WORKER)
        .args([
            "--base",
            &app.base,
            "--queue",
            q,
            "--name",
            "python-example",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 examples/worker.py")
}

async fn wait_for(worker: Child) -> (bool, String) {
    let output = tokio::task::spawn_blocking(move || worker.wait_with_output())
        .await
        .expect("join")
        .expect("worker output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Quick tasks and slow ones (3 s of work on a 2 s lease, so only heartbeats keep them), with
/// taskgate restarted in the middle: every task ends completed after exactly one attempt, with
/// its echo result, and the worker never lost a lease.
#[tokio::test]
async fn the_python_worker_rides_out_a_restart_and_keeps_slow_tasks_alive() {
    let mut app = TestApp::start().await;
    let q = queue("python");
    let mut tasks: Vec<(String, Value)> = Vec::new();
    for n in 0..6 {
        let payload = json!({"n": n});
        let task = app.submit(&q, json!({"payload": payload})).await;
        tasks.push((task["id"].as_str().expect("id").to_owned(), payload));
    }
    for n in 0..2 {
        let payload = json!({"slow": n, "sleep_ms": 3000});
        let task = app
            .submit(&q, json!({"payload": payload, "lease_ms": 2000}))
            .await;
        tasks.push((task["id"].as_str().expect("id").to_owned(), payload));
    }
    let worker = start_worker(&app, &q, &["--concurrency", "3", "--drain"]);

    let (app_ref, q_ref, slow_id) = (&app, &q, &tasks[6].0);
    eventually("a slow task to be in progress", || async move {
        let task = app_ref.stored_meta(q_ref, slow_id).await?;
        (task["state"] == "leased").then_some(())
    })
    .await;
    // Down longer than the heartbeat interval (a third of 2 s), so the worker must notice.
    app.restart(Duration::from_millis(1000)).await;

    let (ok, log) = wait_for(worker).await;
    assert!(ok, "the worker failed:\n{log}");
    assert!(!log.contains("lease lost"), "{log}");
    assert!(
        log.contains("retrying"),
        "the restart was not noticed:\n{log}"
    );
    for (id, payload) in &tasks {
        let task = app.task(&q, id).await;
        assert_eq!(task["state"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert_eq!(task["result"], json!({"echo": payload}));
        assert_eq!(task["worker"], "python-example");
        assert!(log.contains(&format!("task {id}: completed")), "{log}");
    }
}

/// SIGTERM in the middle of a slow task: the worker leases nothing more, finishes and acks the
/// task it holds, and exits 0; the other task stays ready for someone else.
#[tokio::test]
async fn the_python_worker_finishes_its_task_on_sigterm() {
    let app = TestApp::start().await;
    let q = queue("python-stop");
    let slow = app
        .submit(&q, json!({"payload": {"sleep_ms": 1500}, "priority": 1}))
        .await;
    let other = app.submit(&q, json!({"payload": {"n": 1}})).await;
    let worker = start_worker(&app, &q, &[]);
    let slow_id = slow["id"].as_str().expect("id").to_owned();
    let (app_ref, q_ref, id_ref) = (&app, &q, &slow_id);
    eventually("the slow task to be in progress", || async move {
        let task = app_ref.stored_meta(q_ref, id_ref).await?;
        (task["state"] == "leased").then_some(())
    })
    .await;
    let stopped = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let (ok, log) = wait_for(worker).await;
    assert!(ok, "the worker failed:\n{log}");
    assert_eq!(app.task(&q, &slow_id).await["state"], "completed", "{log}");
    let other = app.task(&q, other["id"].as_str().expect("id")).await;
    assert_eq!(other["state"], "ready", "{log}");
    assert!(log.contains("worker stopped"), "{log}");
}

/// `--help` explains the options a user needs.
#[test]
fn the_python_worker_has_a_useful_help() {
    let output = Command::new("python3")
        .args([WORKER, "--help"])
        .output()
        .expect("run python3");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for option in [
        "--base",
        "--queue",
        "--concurrency",
        "--lease-ms",
        "--drain",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

/// Runs the first shell block after `heading` in README.md, as pasted, in one bash against
/// `app`; returns its output, asserting it succeeded and wrote nothing on stderr.
async fn run_readme_block(app: &TestApp, heading: &str) -> String {
    run_readme_block_at(app, heading, 0).await
}

/// As `run_readme_block`, for the section's shell block at `at` (0 the first).
async fn run_readme_block_at(app: &TestApp, heading: &str, at: usize) -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading}"));
    let block = section
        .split("```sh\n")
        .nth(1 + at)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the section's shell block");
    let base = app.base.clone();
    let script = block.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", &script])
            .env("TG", base)
            .output()
    })
    .await
    .expect("join")
    .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    stdout
}

/// The README's curl walk-through, extracted from README.md and run as pasted in one shell
/// against a live server: every step succeeds and shows what the text promises.
#[tokio::test]
async fn the_readme_walkthrough_runs_as_pasted() {
    let app = TestApp::start().await;
    let stdout = run_readme_block(&app, "## A task's life, with curl").await;
    assert!(stdout.contains("HTTP/1.1 201 Created"), "{stdout}");
    assert!(
        stdout.contains("location: /v1/queues/emails/tasks/"),
        "{stdout}"
    );
    assert!(stdout.contains(r#""expires_in_ms""#), "{stdout}");
    assert!(stdout.contains(r#""state":"completed""#), "{stdout}");
    assert!(
        stdout.contains(r#""result":{"message_id": "<abc@example.com>"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""state":"scheduled""#),
        "the failed task is retried: {stdout}"
    );
    assert!(
        stdout.ends_with('\n'),
        "the last output does not end its line"
    );
}

/// The README's policy examples run as pasted: every knob is accepted, and the `If-Match`
/// write at the end applies.
#[tokio::test]
async fn the_readme_policy_examples_run_as_pasted() {
    let app = TestApp::start().await;
    let stdout = run_readme_block(&app, "## Policy: how each queue dispatches").await;
    assert!(
        !stdout.contains(r#""type":"#),
        "a call was refused: {stdout}"
    );
    let policy = app.get("/v1/queues/emails/policy").await.body;
    assert_eq!(
        policy["overrides"],
        serde_json::json!(["lease_ms"]),
        "{policy}"
    );
    assert_eq!(policy["policy"]["lease_ms"], 45000);
    assert_eq!(policy["version"], 9, "seven patches, a reset and the put");
}

/// Against a server with keys, the worker sends its key (`--key`) and drains the queue; with a
/// key the server does not know it stops at once with exit code 2 and says why.
#[tokio::test]
async fn the_python_worker_sends_its_key_and_stops_on_a_refused_one() {
    use crate::auth::{PRODUCER_KEY, WORKER_KEY, keyed_app};
    let app = keyed_app(crate::harness::RedisServer::shared(), &[]).await;
    let q = queue("python-keyed");
    let path = format!("/v1/queues/{q}/tasks");
    let auth = format!("Bearer {PRODUCER_KEY}");
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = json!({"payload": {"n": n}});
        let reply = app
            .request_with(
                reqwest::Method::POST,
                &path,
                Some(&body),
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED);
        ids.push(reply.body["id"].as_str().expect("id").to_owned());
    }
    let worker = start_worker(&app, &q, &["--drain", "--key", WORKER_KEY]);
    let (ok, log) = wait_for(worker).await;
    assert!(ok, "{log}");
    for id in &ids {
        let reply = app
            .request_with(
                reqwest::Method::GET,
                &format!("{path}/{id}"),
                None,
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(reply.body["state"], "completed", "{}", reply.body);
    }
    let refused = start_worker(&app, &q, &["--drain", "--key", "not-a-key-of-this-server"]);
    let output = tokio::task::spawn_blocking(move || refused.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{log}");
    assert!(log.contains("401") && log.contains("unauthorized"), "{log}");
}

/// The README's schedule examples run as pasted: created, triggered (its run listed), paused
/// under the `ETag` just read, deleted.
#[tokio::test]
async fn the_readme_schedule_examples_run_as_pasted() {
    let app = TestApp::start().await;
    let stdout = run_readme_block(&app, "## Schedules").await;
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0]["status"], "active", "{stdout}");
    assert_eq!(lines[1]["state"], "ready", "{stdout}");
    assert_eq!(lines[2]["runs"]["triggered"], 1, "{stdout}");
    assert_eq!(
        lines[2]["last_runs"][0]["task_id"], lines[1]["id"],
        "{stdout}"
    );
    assert_eq!(lines[3]["status"], "paused", "{stdout}");
    assert!(stdout.ends_with("204\n"), "{stdout}");
}

/// The README's workflow examples run as pasted: a receipt that waits for its charge; a flow
/// whose zip waits for two thumbnails and gets both results in its lease.
#[tokio::test]
async fn the_readme_workflow_examples_run_as_pasted() {
    let app = TestApp::start().await;
    let stdout = run_readme_block_at(&app, "## Workflows", 0).await;
    let receipt: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(receipt["state"], "waiting", "{stdout}");
    assert_eq!(receipt["dependencies"][0]["queue"], "payments", "{stdout}");
    assert_eq!(receipt["dependencies"][0]["state"], "pending", "{stdout}");

    let stdout = run_readme_block_at(&app, "## Workflows", 1).await;
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        serde_json::json!([{"ref": "thumb-1", "state": "ready"}, {"ref": "thumb-2", "state": "ready"},
                           {"ref": "zip", "state": "waiting"}]),
        "{stdout}"
    );
    let mut urls: Vec<String> = serde_json::from_value(lines[1].clone()).expect("urls");
    urls.sort();
    assert_eq!(urls, ["s3://t/1.png", "s3://t/2.png"], "{stdout}");
    assert_eq!(
        lines[2]["finished"], false,
        "the zip is leased, not finished: {stdout}"
    );
    assert_eq!(
        lines[2]["states"],
        serde_json::json!(["completed", "completed", "leased"]),
        "{stdout}"
    );
}
