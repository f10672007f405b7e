//! API keys: every operation of the served document against every role (so a new endpoint
//! cannot skip the matrix), queue scopes, `401`/`403` before Redis is asked, `updated_by`, the
//! refusal to serve open on a network address, and no secret in any log line.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{RedisServer, Reply, TestApp, log_lines, queue};
use crate::process::{Server, command, free_port};

pub const PRODUCER_KEY: &str = "tg-producer-5b1f0c9e7a3d";
pub const WORKER_KEY: &str = "tg-worker-0c3e8d2a9f61b4";
pub const ADMIN_KEY: &str = "tg-admin-7e2d4c1b9a8f30";
pub const BILLING_KEY: &str = "tg-billing-producer-4a9c2e";
pub const BILLING_WORKER_KEY: &str = "tg-billing-worker-8d3f1a6b";
/// A key nobody configured.
pub const UNKNOWN_KEY: &str = "tg-unknown-3f9a0c7e2b5d18";

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The keys of these tests, as `TASKGATE_API_KEYS` JSON; the admin key given by its hash.
pub fn keys_json() -> String {
    json!([
        {"name": "web", "role": "producer", "key": PRODUCER_KEY},
        {"name": "mailer", "role": "worker", "key": WORKER_KEY},
        {"name": "ops", "role": "admin", "key_sha256": sha256_hex(ADMIN_KEY)},
        {"name": "billing-web", "role": "producer", "queues": ["billing."], "key": BILLING_KEY},
        {"name": "billing-worker", "role": "worker", "queues": ["billing.", "invoices"], "key": BILLING_WORKER_KEY},
    ])
    .to_string()
}

pub async fn keyed_app(redis: &RedisServer, extra: &[&str]) -> TestApp {
    let keys = format!("--api-keys={}", keys_json());
    let mut flags = vec![keys.as_str()];
    flags.extend_from_slice(extra);
    TestApp::start_with(redis, &flags).await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Reply {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    app.request_with(method, path, body, &headers).await
}

/// Submits `payload` to `queue` with `key`.
async fn submit_as(app: &TestApp, queue: &str, key: &str) -> Reply {
    let body = json!({"payload": 1});
    call(
        app,
        Method::POST,
        &format!("/v1/queues/{queue}/tasks"),
        Some(&body),
        Some(key),
    )
    .await
}

/// The example body of an operation, as the document gives it, made quick (no waiting).
fn example_body(operation: &Value) -> Option<Value> {
    let content = operation["requestBody"]["content"].as_object()?;
    let mut body = content.values().next()?["example"].clone();
    if body.get("wait_ms").is_some() {
        body["wait_ms"] = json!(0);
    }
    Some(body)
}

/// Every operation in the served document, called with no key, an unknown key and each role's
/// key: no key or an unknown one is `401` with `WWW-Authenticate: Bearer` (open operations
/// aside); a role the operation lists gets through (neither 401, 403 nor 5xx); any other role
/// is `403 forbidden`.
#[tokio::test]
async fn every_operation_answers_each_role_as_its_document_says() {
    let app = keyed_app(RedisServer::shared(), &[]).await;
    let document = app.get("/openapi.json").await.body;
    let roles = [
        ("producer", PRODUCER_KEY),
        ("worker", WORKER_KEY),
        ("admin", ADMIN_KEY),
    ];
    let (mut allowed, mut forbidden, mut operations) = (0, 0, 0);
    for (template, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            operations += 1;
            let q = queue("matrix");
            let path = template
                .replace("{queue}", &q)
                .replace("{id}", "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11");
            let method: Method = method.to_uppercase().parse().expect("method");
            let body = example_body(operation);
            let name = format!("{method} {template}");
            let security = operation["security"].as_array().expect("security");
            let open = security
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
            let needed: Vec<&str> = security
                .iter()
                .filter_map(|r| r["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(open || !needed.is_empty(), "{name}: no roles");
            for key in [None, Some(UNKNOWN_KEY)] {
                let reply = call(&app, method.clone(), &path, body.as_ref(), key).await;
                if open {
                    assert!(reply.status.as_u16() < 400, "{name} open: {}", reply.status);
                } else {
                    reply.assert_problem(401, "unauthorized");
                    let challenge = reply.headers.get("www-authenticate").expect("challenge");
                    assert!(
                        challenge.to_str().expect("ascii").starts_with("Bearer"),
                        "{name}"
                    );
                }
            }
            for (role, key) in roles {
                let reply = call(&app, method.clone(), &path, body.as_ref(), Some(key)).await;
                let status = reply.status.as_u16();
                if open || needed.contains(&role) {
                    allowed += 1;
                    assert!(
                        ![401, 403].contains(&status) && status < 500,
                        "{name} as {role}: {status} {}",
                        reply.body
                    );
                } else {
                    forbidden += 1;
                    let problem = reply.assert_problem(403, "forbidden");
                    assert!(
                        problem["detail"].as_str().expect("detail").contains(role),
                        "{name} as {role}: {problem}"
                    );
                }
            }
        }
    }
    assert!(operations >= 22, "only {operations} operations");
    assert!(
        allowed > 30 && forbidden > 15,
        "allowed {allowed}, forbidden {forbidden}"
    );
}

/// A key limited to `billing.` works there and gets `403` on every other queue, also on a
/// multi-queue lease that names one other queue; the queue list shows it only its queues.
#[tokio::test]
async fn a_prefix_scoped_key_is_refused_outside_its_queues() {
    let app = keyed_app(RedisServer::shared(), &[]).await;
    let (mine, other) = (queue("billing.inv"), queue("emails"));
    for q in [&mine, &other] {
        assert_eq!(
            submit_as(&app, q, ADMIN_KEY).await.status,
            StatusCode::CREATED
        );
    }
    let reply = submit_as(&app, &mine, BILLING_KEY).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let refused = submit_as(&app, &other, BILLING_KEY).await;
    let detail = refused.assert_problem(403, "forbidden")["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(
        detail.contains("billing.") && detail.contains(&other),
        "{detail}"
    );

    let listed = call(
        &app,
        Method::GET,
        "/v1/queues?limit=100",
        None,
        Some(BILLING_KEY),
    )
    .await;
    let names: Vec<&str> = listed.body["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert!(names.contains(&mine.as_str()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("billing.")), "{names:?}");
    let everything = call(
        &app,
        Method::GET,
        "/v1/queues?limit=100",
        None,
        Some(ADMIN_KEY),
    )
    .await;
    assert!(
        everything.body["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .any(|q| q["name"] == other.as_str())
    );

    let app = &app;
    let lease_across = |queues: Vec<&str>| {
        let body = json!({"queues": queues, "max_tasks": 5});
        async move {
            call(
                app,
                Method::POST,
                "/v1/leases",
                Some(&body),
                Some(BILLING_WORKER_KEY),
            )
            .await
        }
    };
    let refused = lease_across(vec![&mine, &other]).await;
    refused.assert_problem(403, "forbidden");
    let leased = lease_across(vec![&mine]).await;
    assert_eq!(leased.status, StatusCode::OK);
    assert_eq!(
        leased.body["leases"].as_array().expect("leases").len(),
        2,
        "both billing tasks, nothing else"
    );
    let single = call(
        app,
        Method::POST,
        &format!("/v1/queues/{other}/leases"),
        Some(&json!({})),
        Some(BILLING_WORKER_KEY),
    )
    .await;
    single.assert_problem(403, "forbidden");
    // Nothing was leased from the other queue by the refused calls.
    let stats = call(
        app,
        Method::GET,
        &format!("/v1/queues/{other}"),
        None,
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(stats.body["counts"]["ready"], 1, "{}", stats.body);
}

/// A policy change records the key's name as `updated_by`, and the request's log line names
/// the key (by name).
#[tokio::test]
async fn the_key_name_is_recorded_and_logged() {
    let app = keyed_app(RedisServer::shared(), &[]).await;
    let q = queue("byname");
    let reply = call(
        &app,
        Method::PATCH,
        &format!("/v1/queues/{q}/policy"),
        Some(&json!({"weight": 3})),
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["updated_by"], "ops");
    let lines = log_lines("/v1/queues/{queue}/policy");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("key=\"ops\"") || l.contains("key=ops")),
        "{lines:?}"
    );
}

/// Keys, their hashes and Redis passwords never reach the log, whatever happens: accepted and
/// refused keys, an unknown key, a Redis that refuses the password.
#[tokio::test]
async fn no_key_hash_or_password_is_ever_logged() {
    let app = keyed_app(RedisServer::shared(), &[]).await;
    let q = queue("secret");
    let keys = [
        PRODUCER_KEY,
        WORKER_KEY,
        ADMIN_KEY,
        BILLING_KEY,
        BILLING_WORKER_KEY,
        UNKNOWN_KEY,
    ];
    for key in keys {
        submit_as(&app, &q, key).await;
        call(&app, Method::GET, "/v1/queues", None, Some(key)).await;
    }
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-redis-pass"]);
    let url = format!(
        "--redis-url=redis://taskgate:Wr0ng-s3cret@127.0.0.1:{}",
        redis.port
    );
    let locked = keyed_app(&redis, &[&url]).await;
    call(&locked, Method::GET, "/readyz", None, None)
        .await
        .assert_problem(503, "unavailable");
    // The outage log line about the refused password is written before that 503 is sent.
    let secrets = keys
        .into_iter()
        .chain(["s3cret-redis-pass", "Wr0ng-s3cret"]);
    let logged = log_lines("");
    assert!(logged.len() > 10, "the log is being captured");
    for secret in secrets {
        for text in [secret.to_owned(), sha256_hex(secret)] {
            let leaks: Vec<&String> = logged.iter().filter(|l| l.contains(&text)).collect();
            assert!(leaks.is_empty(), "logged: {leaks:?}");
        }
    }
}

/// Serving open on a non-loopback address is refused with a line that says what to do; the
/// explicit flag allows it (and the log says so loudly); keys allow it too. A bad key entry is
/// named without echoing the key, and `--help` never shows a key from the environment.
#[test]
fn an_open_server_on_a_network_address_needs_the_explicit_flag() {
    let redis = RedisServer::shared().url();
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let env = [
        ("TASKGATE_LISTEN", listen.as_str()),
        ("TASKGATE_REDIS_URL", redis.as_str()),
    ];
    let refused = command(&env, &[]).output().expect("run");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    for words in [
        "TASKGATE_LISTEN=0.0.0.0",
        "TASKGATE_API_KEYS",
        "--insecure-no-auth",
    ] {
        assert!(stderr.contains(words), "{words:?} not in {stderr}");
    }

    let mut open = Server::spawn(&env, &["--insecure-no-auth"]);
    open.wait_up();
    assert!(open.logged("WITHOUT API KEYS"), "{}", open.log());
    drop(open);

    let keys = keys_json();
    let mut keyed = Server::spawn(&[env[0], env[1], ("TASKGATE_API_KEYS", &keys)], &[]);
    keyed.wait_up();
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{port}/v1/queues"),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&status.stdout), "401");
    drop(keyed);

    let bad = json!([{"name": "a", "role": "boss", "key": "tg-very-secret-key-1234"}]).to_string();
    let output = command(
        &[("TASKGATE_REDIS_URL", &redis), ("TASKGATE_API_KEYS", &bad)],
        &[],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("TASKGATE_API_KEYS") && stderr.contains("role"),
        "{stderr}"
    );
    assert!(!stderr.contains("tg-very-secret-key-1234"), "{stderr}");
    let help = command(&[("TASKGATE_API_KEYS", &bad)], &["--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("TASKGATE_API_KEYS") && !help.contains("tg-very-secret"),
        "{help}"
    );
}

/// The demo keys that `compose.yaml` mounts are a valid key file, and the compose file wires
/// them, AOF and `noeviction` as the README says, in a form Compose v1 reads too.
#[test]
fn the_compose_files_configure_keys_aof_and_noeviction() {
    let keys = taskgate::access::KeyRing::parse(include_str!("../../compose-keys.toml"))
        .expect("compose-keys.toml is a valid key file");
    assert_eq!(keys.len(), 3);
    assert!(keys.identify("demo-admin-key-change-me-0001").is_some());
    let compose = include_str!("../../compose.yaml");
    for needed in [
        "file: ./compose-keys.toml",
        "TASKGATE_API_KEYS_FILE: /run/secrets/taskgate-keys",
        "--appendonly",
        "noeviction",
        "127.0.0.1:8081:8080",
        "127.0.0.1:8082:8080",
    ] {
        assert!(compose.contains(needed), "compose.yaml lacks {needed:?}");
    }
    // Compose v1 (docker-compose 1.29, Debian 12's) refuses a file with a top-level `name:`.
    assert!(
        !compose.lines().any(|line| line.starts_with("name:")),
        "compose.yaml has a top-level name:, which Compose v1 refuses"
    );
}
