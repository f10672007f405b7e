//! The example producers (`examples/producer.*`) in Python, Node.js and POSIX shell, run as a
//! user would: each submits while Redis is down (so taskgate answers 503), retries with its one
//! Idempotency-Key until Redis is back, then waits for the result a worker acknowledges. Exactly
//! one task is created, and the producer prints its id and result and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};
use crate::support::{ADMIN_KEY, Api, WORKER_KEY, at_root, keys_flag, require};

async fn rides_out_an_outage(language: &str, producer: impl Fn(&str) -> Command) {
    let mut redis = RedisServer::start();
    let api = Api {
        app: TestApp::start_with(&redis, &[&keys_flag()]).await,
    };
    let q = queue(language);
    redis.stop();

    let mut producer = producer(&q);
    producer
        .env("TASKGATE_URL", api.base())
        .env("TASKGATE_KEY", ADMIN_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = producer.spawn().expect("start the producer");
    // Its log, line by line, as it comes.
    let (lines, log) = mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // Waited for off the runtime, which serves the app meanwhile.
    let (retried, seen) = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        loop {
            match log.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains("retrying") => return (true, seen),
                Ok(line) => seen.push(line),
                Err(_) => return (false, seen),
            }
        }
    })
    .await
    .expect("join");
    assert!(retried, "the producer never retried: {seen:?}");
    redis.restart();

    // A worker takes the task and acknowledges it.
    let path = format!("/v1/queues/{q}/leases");
    let auth = format!("Bearer {WORKER_KEY}");
    let lease = loop {
        let reply = api
            .app
            .request_with(
                Method::POST,
                &path,
                Some(&json!({"wait_ms": 5000})),
                &[("authorization", &auth)],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if let Some(lease) = reply.body["leases"].get(0) {
            break lease.clone();
        }
    };
    assert_eq!(
        lease["task"]["payload"],
        json!({"to": "ada@example.com", "n": 7})
    );
    let id = lease["task"]["id"].as_str().expect("id").to_owned();
    let ack = api
        .app
        .request_with(
            Method::POST,
            &format!("/v1/queues/{q}/tasks/{id}/ack"),
            Some(&json!({"lease_id": lease["lease_id"], "result": {"sent": true}})),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.body);

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{language}: {}\n{stdout}",
        output.status
    );
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.first(), Some(&id.as_str()), "{stdout}");
    let result: Value = serde_json::from_str(printed.get(1).expect("a result line")).expect("JSON");
    assert_eq!(result, json!({"sent": true}));
    let stats = api
        .call(Method::GET, &format!("/v1/queues/{q}"), None)
        .await
        .1;
    assert_eq!(
        stats["totals"]["submitted"], 1,
        "retries made one task: {stats}"
    );
}

const PAYLOAD: &str = r#"{"to": "ada@example.com", "n": 7}"#;
/// The flags of the Python and Node producers.
const FLAGS: &[&str] = &[
    "--queue",
    "{queue}",
    "--payload",
    PAYLOAD,
    "--wait",
    "30000",
];

/// `program script args…`, with `{queue}` in the args replaced by the test's queue.
fn example(
    program: &'static str,
    script: &'static str,
    args: &'static [&'static str],
) -> impl Fn(&str) -> Command {
    move |q| {
        let mut command = Command::new(program);
        command
            .arg(at_root(script))
            .args(args.iter().map(|a| if *a == "{queue}" { q } else { a }));
        command
    }
}

#[tokio::test]
async fn the_python_producer_retries_through_an_outage_and_waits_for_the_result() {
    require("python3", "apt-get install python3");
    rides_out_an_outage(
        "python-producer",
        example("python3", "examples/producer.py", FLAGS),
    )
    .await;
}

#[tokio::test]
async fn the_node_producer_retries_through_an_outage_and_waits_for_the_result() {
    require("node", "apt-get install nodejs");
    rides_out_an_outage(
        "node-producer",
        example("node", "examples/producer.mjs", FLAGS),
    )
    .await;
}

#[tokio::test]
async fn the_shell_producer_retries_through_an_outage_and_waits_for_the_result() {
    require("curl", "apt-get install curl");
    require("jq", "apt-get install jq");
    let args = &["{queue}", PAYLOAD, "30000"];
    rides_out_an_outage(
        "shell-producer",
        example("sh", "examples/producer.sh", args),
    )
    .await;
}
