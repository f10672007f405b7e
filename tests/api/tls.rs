//! Redis over TLS (`rediss://`) with an ACL user: a throwaway CA and server certificate made
//! with `openssl`, a `redis-server` that speaks only TLS, and taskgate trusting that CA through
//! `--redis-ca-file`. A CA that did not sign the server's certificate fails clearly.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TempDir, TestApp, eventually, log_lines_since, log_mark, queue};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A new P-256 key, in `openssl req` arguments.
const NEW_EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// `openssl req` with a new key and `rest`.
fn request(dir: &Path, rest: &[&str]) {
    let args: Vec<&str> = ["req"]
        .iter()
        .chain(&NEW_EC_KEY)
        .chain(rest)
        .copied()
        .collect();
    openssl(dir, &args);
}

/// A CA (`<name>.pem`, `<name>.key`) that exists only for this test.
fn make_ca(dir: &Path, name: &str) {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    let subject = format!("/CN=taskgate test {name}");
    request(
        dir,
        &[
            "-x509", "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject,
        ],
    );
}

/// `ca.pem` and `server.pem`/`server.key` for localhost and 127.0.0.1, plus an unrelated
/// `other-ca.pem`.
fn make_certificates(dir: &TempDir) {
    make_ca(&dir.0, "ca");
    make_ca(&dir.0, "other-ca");
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write san.ext");
    request(
        &dir.0,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        &dir.0,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

#[tokio::test]
async fn a_tls_redis_with_an_acl_user_serves_a_whole_lifecycle() {
    let certs = TempDir::new("tls");
    make_certificates(&certs);
    let redis = RedisServer::start_tls(&certs, &["--requirepass", "admin-only-9"]);
    // A user limited to taskgate's keys and channels, without dangerous commands: the ACL the
    // README recommends.
    let prefix = format!("tls{}", std::process::id());
    let (keys, channels) = (format!("~{prefix}:*"), format!("&{prefix}:*"));
    let () = redis
        .cmd(&[
            "ACL",
            "SETUSER",
            "taskgate",
            "on",
            ">tls-user-pass-7",
            &keys,
            &channels,
            "+@all",
            "-@dangerous",
            "+config|get",
        ])
        .await;
    let url = format!(
        "--redis-url=rediss://taskgate:tls-user-pass-7@localhost:{}",
        redis.port
    );
    let ca = format!("--redis-ca-file={}", certs.join("ca.pem").display());
    let prefix_flag = format!("--key-prefix={prefix}");
    let app = TestApp::start_with(&redis, &[&url, &ca, &prefix_flag]).await;

    let q = queue("tls");
    let task = app.submit(&q, json!({"payload": {"over": "tls"}})).await;
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], task["id"]);
    let acked = app.worker_call(&lease, "ack", json!({"result": 42})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let done = app.task(&q, task["id"].as_str().expect("id")).await;
    assert_eq!(
        (done["state"].clone(), done["result"].clone()),
        (json!("completed"), json!(42))
    );
    // Waiters are woken over TLS too: the notifier's connection uses the same client, and its
    // subscription is live once `subscribed` sees it.
    let waiting = app.long_poll(&q);
    app.subscribed(&redis, &q).await;
    app.submit(&q, json!({"payload": 2})).await;
    let body = waiting.await.expect("join");
    assert_eq!(body["leases"].as_array().map(Vec::len), Some(1), "{body}");
}

/// A CA that did not sign the server's certificate: every call is `503`, and the log says the
/// certificate was not trusted (never a password).
#[tokio::test]
async fn a_wrong_ca_fails_clearly() {
    let certs = TempDir::new("tls-wrong");
    make_certificates(&certs);
    let redis = RedisServer::start_tls(&certs, &[]);
    let mark = log_mark();
    let url = format!("--redis-url=rediss://:not-this-1@localhost:{}", redis.port);
    let wrong = format!("--redis-ca-file={}", certs.join("other-ca.pem").display());
    let app = TestApp::start_with(&redis, &[&url, &wrong, "--reaper-interval-ms=0"]).await;
    app.get("/readyz").await.assert_problem(503, "unavailable");
    let lines = eventually("a log line about the certificate", || async {
        let lines = log_lines_since(mark, &format!("localhost:{}", redis.port));
        lines
            .iter()
            .any(|l| l.to_lowercase().contains("certificate"))
            .then_some(lines)
    })
    .await;
    assert!(lines.iter().all(|l| !l.contains("not-this-1")), "{lines:?}");

    // A CA file with a URL that is not TLS is a configuration mistake, said as such.
    let plain = format!("--redis-url=redis://localhost:{}", redis.port);
    let config = taskgate::config::Config::load_from(["taskgate", &plain, &wrong]).expect("config");
    let refused = taskgate::state_from_config(&config).err().expect("refused");
    assert!(
        refused.contains("TASKGATE_REDIS_CA_FILE") && refused.contains("rediss://"),
        "{refused}"
    );
}
