//! The example workers (`examples/`) in Python, Node.js, Java and POSIX shell, each run as a
//! user would run it, against a keyed server with one mixed workload: quick tasks, failing
//! ones (retried, then dead), a slow one that only heartbeats keep alive, one cancelled while
//! it is worked on (`409 lease-lost`: the worker must drop it and go on), and finally SIGTERM
//! in the middle of a task (the worker finishes it, acks it and exits 0); and a task too deeply
//! nested for the worker to read, leased together with a readable one (the worker fails the
//! one with a clear error and completes the other). Every outcome is checked through the API.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::queue;
use crate::support::{ADMIN_KEY, Api, WORKER_KEY, at_root, keyed_app, keyed_app_with, require};

/// Long enough for the slowest worker (the JVM compiles `Worker.java` at start).
const WITHIN: Duration = Duration::from_secs(60);

/// A worker process, killed if the test ends without having stopped it (an assertion failed):
/// a worker left running would hold what it inherited from the test, the build lock of
/// `flock cargo test` among it.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Worker {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    /// Sends SIGTERM and waits (up to `WITHIN`) for the worker to exit: its status and log.
    async fn stop(&mut self, language: &str) -> (std::process::ExitStatus, String) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .expect("kill");
        assert!(signalled.success());
        let deadline = std::time::Instant::now() + WITHIN;
        let status = loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the {language} worker did not stop on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut log = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut log);
        }
        (status, log)
    }
}

fn spawn(mut command: Command) -> Worker {
    Worker(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}")),
    )
}

/// The usual flags of the Python, Node and Java workers.
fn flagged(program: &str, script: &str, api: &Api, queue: &str, name: &str) -> Command {
    let mut command = Command::new(program);
    command.arg(at_root(script)).args([
        "--base",
        api.base(),
        "--queue",
        queue,
        "--name",
        name,
        "--key",
        WORKER_KEY,
        "--concurrency",
        "2",
    ]);
    command
}

#[tokio::test]
async fn the_python_worker_runs_the_mixed_workload() {
    require("python3", "apt-get install python3");
    mixed_workload("python", |api, q, name| {
        flagged("python3", "examples/worker.py", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_node_worker_runs_the_mixed_workload() {
    require("node", "apt-get install nodejs");
    mixed_workload("node", |api, q, name| {
        flagged("node", "examples/worker.mjs", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_java_worker_runs_the_mixed_workload() {
    require("java", "apt-get install openjdk-17-jdk-headless");
    mixed_workload("java", |api, q, name| {
        flagged("java", "examples/Worker.java", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_shell_worker_runs_the_mixed_workload() {
    require("jq", "apt-get install jq");
    require("curl", "apt-get install curl");
    mixed_workload("shell", |api, q, name| {
        let mut command = Command::new("sh");
        command
            .arg(at_root("examples/worker.sh"))
            .args([q, name])
            .env("TASKGATE_URL", api.base())
            .env("TASKGATE_KEY", WORKER_KEY);
        command
    })
    .await;
}

#[tokio::test]
async fn the_python_worker_fails_an_unreadable_task_and_completes_the_others() {
    require("python3", "apt-get install python3");
    unreadable_task("python", |api, q, name| {
        flagged("python3", "examples/worker.py", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_node_worker_fails_an_unreadable_task_and_completes_the_others() {
    require("node", "apt-get install nodejs");
    unreadable_task("node", |api, q, name| {
        flagged("node", "examples/worker.mjs", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_java_worker_fails_an_unreadable_task_and_completes_the_others() {
    require("java", "apt-get install openjdk-17-jdk-headless");
    unreadable_task("java", |api, q, name| {
        flagged("java", "examples/Worker.java", api, q, name)
    })
    .await;
}

#[tokio::test]
async fn the_shell_worker_fails_an_unreadable_task_and_completes_the_others() {
    require("jq", "apt-get install jq");
    require("curl", "apt-get install curl");
    unreadable_task("shell", |api, q, name| {
        let mut command = Command::new("sh");
        command
            .arg(at_root("examples/worker.sh"))
            .args([q, name])
            .env("TASKGATE_URL", api.base())
            .env("TASKGATE_KEY", WORKER_KEY);
        command
    })
    .await;
}

/// A server whose operator raised the depth limit (`--max-json-depth=2000`) hands out a task
/// nested 1500 deep, beyond what each worker reads (Python's parser and jq's stop sooner; the
/// Node and Java workers refuse past 500 levels). It comes in one lease answer with a readable
/// task: the worker fails the unreadable one with a clear error (with one attempt allowed, it
/// is dead at once) and completes the other, then every other task, and still stops cleanly.
async fn unreadable_task(language: &str, worker: impl Fn(&Api, &str, &str) -> Command) {
    let api = keyed_app_with(&["--max-json-depth=2000"]).await;
    let q = queue(&format!("{language}-unreadable"));
    let name = format!("{language}-example");
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/v1/queues/{q}/policy"),
            Some(&json!({"max_attempts": 1})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Sent as text: serde_json (and so `json!`) stops at 128 levels.
    let depth = 1500;
    let path = format!("/v1/queues/{q}/tasks");
    let text = format!(
        r#"{{"payload": {}{}, "priority": 10}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let submitted = api
        .app
        .client
        .post(format!("{}{path}", api.base()))
        .header("authorization", format!("Bearer {ADMIN_KEY}"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), 201);
    let unreadable = submitted
        .text()
        .await
        .expect("text")
        .split("\"id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the task's id")
        .to_owned();
    // Leased in the same answer as the unreadable one (same priority, submitted after it).
    let neighbour = json!({"n": "neighbour"});
    let mut readable = vec![(
        api.submit(&q, json!({"payload": neighbour, "priority": 10}))
            .await,
        neighbour,
    )];
    for n in 0..2 {
        let payload = json!({"n": n});
        readable.push((api.submit(&q, json!({"payload": payload})).await, payload));
    }

    let mut child = spawn(worker(&api, &q, &name));
    // Read as text: its payload is too deep for serde_json, but holds no quotes to confuse a
    // search for the task's own fields.
    let deadline = std::time::Instant::now() + WITHIN;
    let task = loop {
        let task = api
            .app
            .client
            .get(format!("{}{path}/{unreadable}", api.base()))
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        if task.contains(r#""state":"dead""#) || task.contains(r#""state":"completed""#) {
            break task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the unreadable task was never finished: {}",
            task.split("\"payload\"").next().unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let closing = "]".repeat(depth);
    let after = task
        .rfind(&closing)
        .map_or("", |at| &task[at + closing.len()..]);
    let fields = format!(
        "{} ... {after}",
        task.split("\"payload\"").next().unwrap_or_default()
    );
    assert!(fields.contains(r#""state":"dead""#), "{fields}");
    assert!(
        fields.contains("cannot read the task"),
        "a clear error: {fields}"
    );
    for (id, payload) in &readable {
        let task = api
            .task_when(&q, id, WITHIN, |t| t["state"] == "completed")
            .await;
        assert_eq!(task["result"], json!({"echo": payload}), "{task}");
    }

    let (status, log) = child.stop(language).await;
    assert!(status.success(), "{language} worker: {status}\n{log}");
    assert!(log.contains("cannot read the task"), "{log}");
}

async fn mixed_workload(language: &str, worker: impl Fn(&Api, &str, &str) -> Command) {
    let api = keyed_app().await;
    let q = queue(language);
    let name = format!("{language}-example");
    // Two attempts, retried 100 ms after a failure: failing tasks go dead quickly.
    let policy = json!({"max_attempts": 2, "backoff": {"initial_ms": 100, "multiplier": 1.0, "jitter": 0.0}});
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/v1/queues/{q}/policy"),
            Some(&policy),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Leased first (highest priority), then cancelled while the worker is on it.
    let doomed = api
        .submit(
            &q,
            json!({"payload": {"sleep_ms": 2000}, "priority": 10, "lease_ms": 1000}),
        )
        .await;
    let mut quick = Vec::new();
    for n in 0..4 {
        let payload = json!({"n": n, "text": format!("héllo {n}")});
        quick.push((api.submit(&q, json!({"payload": payload})).await, payload));
    }
    let mut failing = Vec::new();
    for n in 0..2 {
        failing.push(
            api.submit(&q, json!({"payload": {"fail": true, "n": n}}))
                .await,
        );
    }
    // 2.5 s of work on a 1 s lease: only heartbeats keep it.
    let slow = api
        .submit(&q, json!({"payload": {"sleep_ms": 2500}, "lease_ms": 1000}))
        .await;

    let mut child = spawn(worker(&api, &q, &name));
    api.task_when(&q, &doomed, WITHIN, |t| t["state"] == "leased")
        .await;
    let (status, body) = api
        .call(
            Method::DELETE,
            &format!("/v1/queues/{q}/tasks/{doomed}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    for (id, payload) in &quick {
        let task = api
            .task_when(&q, id, WITHIN, |t| t["state"] == "completed")
            .await;
        assert_eq!(task["result"], json!({"echo": payload}), "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert_eq!(task["worker"], name.as_str(), "{task}");
    }
    for id in &failing {
        let task = api
            .task_when(&q, id, WITHIN, |t| t["state"] == "dead")
            .await;
        assert_eq!(task["attempts"], 2, "{task}");
        let errors = task["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 2, "{task}");
        assert!(
            errors
                .iter()
                .all(|e| e.to_string().contains("asked to fail")),
            "{task}"
        );
    }
    let task = api
        .task_when(&q, &slow, WITHIN, |t| t["state"] == "completed")
        .await;
    assert_eq!(task["attempts"], 1, "heartbeats kept the lease: {task}");
    // Its heartbeats carried the work's progress reports (ten steps of 250 ms).
    assert_eq!(task["progress"]["of"], 10, "no progress reported: {task}");
    assert!(
        task["progress"]["done"].as_u64().is_some_and(|d| d >= 1),
        "{task}"
    );
    assert_eq!(api.task(&q, &doomed).await["state"], "cancelled");

    // SIGTERM in the middle of a task: it is finished and acked, then the worker exits 0.
    let last = api
        .submit(&q, json!({"payload": {"sleep_ms": 1500, "last": true}}))
        .await;
    api.task_when(&q, &last, WITHIN, |t| t["state"] == "leased")
        .await;
    let (status, log) = child.stop(language).await;
    assert!(status.success(), "{language} worker: {status}\n{log}");
    let task = api.task(&q, &last).await;
    assert_eq!(task["state"], "completed", "{task}\n{log}");
    assert_eq!(
        task["result"],
        json!({"echo": {"sleep_ms": 1500, "last": true}})
    );
    assert!(
        log.contains("lease lost"),
        "the cancel was not noticed:\n{log}"
    );
    assert!(log.contains("worker stopped"), "{log}");
    let stats: Value = api
        .call(Method::GET, &format!("/v1/queues/{q}"), None)
        .await
        .1;
    assert_eq!(stats["counts"]["leased"], 0, "{stats}");
}
