//! One command on a fresh machine: with no Redis URL and nothing answering at the probe
//! address, taskgate starts its own `redis-server` (AOF, Unix socket) in its data directory.
//! Its data survives a restart of taskgate, a second taskgate shares it, and the child never
//! outlives taskgate, however taskgate ends.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TempDir, eventually, queue};
use crate::process::{Server, alive, command, free_port};

/// The local Redis's pid, from the pidfile in the data directory.
fn redis_pid(data: &std::path::Path) -> u32 {
    std::fs::read_to_string(data.join("redis.pid"))
        .expect("redis.pid")
        .trim()
        .parse()
        .expect("a pid")
}

async fn gone(pid: u32) {
    eventually(&format!("redis-server {pid} to exit"), || async move {
        (!alive(pid)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_local_redis_is_started_kept_and_never_outlives_taskgate() {
    let dir = TempDir::new("local");
    let data = dir.join("data");
    let data_arg = data.display().to_string();
    let probe = format!("127.0.0.1:{}", free_port());
    let env = [
        ("TASKGATE_LOCAL_REDIS_PROBE", probe.as_str()),
        ("TASKGATE_DATA_DIR", data_arg.as_str()),
    ];
    let client = reqwest::Client::new();

    let mut first = Server::spawn(&env, &[]);
    first.wait_up();
    assert!(
        first.logged("started a local redis-server"),
        "{}",
        first.log()
    );
    let pid = redis_pid(&data);
    assert!(data.join("appendonlydir").is_dir(), "AOF persistence is on");
    let q = queue("local");
    let submitted = client
        .post(format!("{}/v1/queues/{q}/tasks", first.base))
        .json(&json!({"payload": "kept"}))
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), StatusCode::CREATED);
    let task: Value = submitted.json().await.expect("task");
    let path = format!("/v1/queues/{q}/tasks/{}", task["id"].as_str().expect("id"));

    // A second taskgate beside it shares the same Redis.
    let mut second = Server::spawn(&env, &[]);
    second.wait_up();
    assert!(
        second.logged("another taskgate started"),
        "{}",
        second.log()
    );
    let seen = client
        .get(format!("{}{path}", second.base))
        .send()
        .await
        .expect("get");
    assert_eq!(seen.status(), StatusCode::OK);
    drop(second);
    assert!(
        alive(pid),
        "the sharer's exit leaves the owner's Redis running"
    );

    first.signal("TERM");
    assert!(first.wait_exit(Duration::from_secs(15)).success());
    gone(pid).await;

    // Started again: the task is still there.
    let mut again = Server::spawn(&env, &[]);
    again.wait_up();
    let kept = client
        .get(format!("{}{path}", again.base))
        .send()
        .await
        .expect("get");
    assert_eq!(kept.status(), StatusCode::OK);
    let kept: Value = kept.json().await.expect("task");
    assert_eq!(kept["payload"], "kept");

    // SIGKILL leaves no time to clean up: the child notices on its own and exits.
    let pid = redis_pid(&data);
    again.signal("KILL");
    again.wait_exit(Duration::from_secs(5));
    gone(pid).await;

    // The lock the killed taskgate left behind is taken over.
    let mut last = Server::spawn(&env, &[]);
    last.wait_up();
    let kept = client
        .get(format!("{}{path}", last.base))
        .send()
        .await
        .expect("get");
    assert_eq!(kept.status(), StatusCode::OK);
    last.signal("TERM");
    assert!(last.wait_exit(Duration::from_secs(15)).success());
}

/// Without `redis-server` the start fails with one line saying what to install or set.
#[test]
fn without_redis_server_installed_it_says_what_to_do() {
    let dir = TempDir::new("noredis");
    let probe = format!("127.0.0.1:{}", free_port());
    let data = dir.join("data").display().to_string();
    let output = command(
        &[
            ("TASKGATE_LOCAL_REDIS_PROBE", &probe),
            ("TASKGATE_DATA_DIR", &data),
            ("TASKGATE_REDIS_SERVER", "/nonexistent/redis-server"),
        ],
        &[],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    for words in ["apt-get install redis-server", "TASKGATE_REDIS_URL"] {
        assert!(last.contains(words), "{words:?} not in {last}");
    }
}

/// A Redis answering at the probe address is used as it is: no child, no data directory.
#[tokio::test]
async fn a_redis_answering_at_the_probe_address_is_used() {
    let dir = TempDir::new("probe");
    let data = dir.join("data");
    let data_arg = data.display().to_string();
    let probe = format!("127.0.0.1:{}", RedisServer::shared().port);
    let prefix = format!("probe{}", std::process::id());
    let mut server = Server::spawn(
        &[
            ("TASKGATE_LOCAL_REDIS_PROBE", &probe),
            ("TASKGATE_DATA_DIR", &data_arg),
            ("TASKGATE_KEY_PREFIX", &prefix),
        ],
        &[],
    );
    server.wait_up();
    assert!(
        server.logged("using the Redis answering at"),
        "{}",
        server.log()
    );
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(!data.exists(), "no data directory without a child");
}
