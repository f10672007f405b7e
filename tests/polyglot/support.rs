//! What the polyglot tests share: a keyed server, admin calls, and running external programs
//! with a bounded wait.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::harness::{RedisServer, TestApp};

pub const ADMIN_KEY: &str = "tg-polyglot-admin-51c0e7a2";
pub const WORKER_KEY: &str = "tg-polyglot-worker-9e44b1d3";

/// The repository's root, where `examples/`, `clients/` and `dashboard/` are.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn at_root(relative: &str) -> PathBuf {
    root().join(relative)
}

/// The `--api-keys` flag: an admin key for the tests, a worker key for the workers.
pub fn keys_flag() -> String {
    format!(
        r#"--api-keys=[{{"name":"ops","role":"admin","key":"{ADMIN_KEY}"}},{{"name":"workers","role":"worker","key":"{WORKER_KEY}"}}]"#
    )
}

/// A taskgate on the shared Redis that requires keys (`keys_flag`).
pub async fn keyed_app() -> Api {
    keyed_app_with(&[]).await
}

/// `keyed_app` with more flags (`--name=value`).
pub async fn keyed_app_with(flags: &[&str]) -> Api {
    let keys = keys_flag();
    let mut all = vec![keys.as_str()];
    all.extend_from_slice(flags);
    Api {
        app: TestApp::start_with(RedisServer::shared(), &all).await,
    }
}

/// The app, called with the admin key.
pub struct Api {
    pub app: TestApp,
}

impl Api {
    pub fn base(&self) -> &str {
        &self.app.base
    }

    /// One call with the admin key; returns status and JSON body (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Bearer {ADMIN_KEY}");
        let reply = self
            .app
            .request_with(method, path, body, &[("authorization", &auth)])
            .await;
        (reply.status.as_u16(), reply.body)
    }

    /// Submits a task, asserting the 201; returns its id.
    pub async fn submit(&self, queue: &str, body: Value) -> String {
        let path = format!("/v1/queues/{queue}/tasks");
        let (status, task) = self.call(Method::POST, &path, Some(&body)).await;
        assert_eq!(status, 201, "{task}");
        task["id"].as_str().expect("id").to_owned()
    }

    pub async fn task(&self, queue: &str, id: &str) -> Value {
        let (status, task) = self
            .call(Method::GET, &format!("/v1/queues/{queue}/tasks/{id}"), None)
            .await;
        assert_eq!(status, 200, "{task}");
        task
    }

    /// Waits (up to `within`) until the task satisfies `done`; returns it.
    pub async fn task_when(
        &self,
        queue: &str,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let task = self.task(queue, id).await;
            if done(&task) {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never got there: {task}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Panics with how to install `program` when it is not on PATH.
pub fn require(program: &str, install: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{program} is missing: {install} (.ci/run does this)");
}

/// Panics with how to install the npm tools when `node_modules/` lacks `package`.
pub fn require_node_package(package: &str) {
    assert!(
        at_root(&format!("node_modules/{package}")).exists(),
        "node_modules/{package} is missing: run `npm ci` at the repository's root (.ci/run does this)"
    );
}

/// Runs `command` to its end on a blocking thread, failing the test past `within`.
pub async fn run(mut command: Command, within: Duration) -> Output {
    command.stdin(Stdio::null());
    let shown = format!("{command:?}");
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    let pid = child.id();
    let waited = tokio::time::timeout(
        within,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(output) => output.expect("join").expect("output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{shown} did not finish within {within:?}");
        }
    }
}

/// Asserts the program succeeded, showing its output otherwise; returns its stdout.
pub fn succeeded(what: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
