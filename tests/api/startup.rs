//! The binary as a new user meets it: configuration mistakes are one clear line naming the
//! environment variable (or flag) behind them and a non-zero exit, never a backtrace; a host
//! name works as the listen address; the health check finds the server; wrong Redis
//! credentials are a 503 and a log line that says so.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{RedisServer, TestApp, log_lines, log_lines_since, log_mark, queue};

const BINARY: &str = env!("CARGO_BIN_EXE_taskgate");

/// Runs `taskgate` with only the given `TASKGATE_*` variables (and a backtrace asked for).
fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("TASKGATE_")) {
        command.env_remove(name);
    }
    command
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run taskgate")
}

/// Asserts the run failed with exactly one line on stderr containing `expected`.
fn assert_one_line_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status: {}", output.status);
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_bad_setting_names_the_environment_variable_or_flag_it_came_from() {
    let redis = RedisServer::shared().url();
    let cases = [
        (
            vec![("TASKGATE_LISTEN", "nonsense")],
            vec![],
            "TASKGATE_LISTEN=nonsense",
        ),
        (
            vec![("TASKGATE_DEFAULT_BACKOFF_JITTER", "5")],
            vec![],
            "TASKGATE_DEFAULT_BACKOFF_JITTER=5: must be a number from 0 to 1",
        ),
        (
            vec![],
            vec!["--default-backoff-jitter", "5"],
            "--default-backoff-jitter 5: must be a number from 0 to 1",
        ),
        (
            vec![("TASKGATE_REDIS_POOL_SIZE", "many")],
            vec![],
            "TASKGATE_REDIS_POOL_SIZE=many",
        ),
        (
            vec![("TASKGATE_WORKER_THREADS", "5000")],
            vec![],
            "TASKGATE_WORKER_THREADS=5000: must be from 0 (one per core) to 1024",
        ),
    ];
    for (env, args, expected) in cases {
        let mut env = env;
        env.push(("TASKGATE_REDIS_URL", redis.as_str()));
        assert_one_line_failure(&run(&env, &args), expected);
    }
}

#[test]
fn a_taken_port_is_one_line_and_a_non_zero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let redis = RedisServer::shared().url();
    let output = run(
        &[("TASKGATE_LISTEN", &addr), ("TASKGATE_REDIS_URL", &redis)],
        &[],
    );
    assert_one_line_failure(&output, &format!("cannot listen on {addr}"));
}

/// `localhost:<port>` works as the listen address; the start-up log gives the docs' URL, without
/// colour codes when stderr is not a terminal; `taskgate healthcheck --listen` finds the server
/// ready; SIGTERM stops it with exit 0.
#[test]
fn a_host_name_works_and_the_health_check_finds_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("localhost:{port}");
    let redis = RedisServer::shared().url();
    let server = Command::new(BINARY)
        .env("TASKGATE_LISTEN", &listen)
        .env("TASKGATE_REDIS_URL", &redis)
        .env("TASKGATE_REAPER_INTERVAL_MS", "0")
        // One request thread, as BENCHMARKS.md recommends for a small machine, serves too.
        .env("TASKGATE_WORKER_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskgate");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let check = run(&[], &["healthcheck", "--listen", &listen]);
        if check.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the health check never passed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let live = run(&[], &["healthcheck", "--live", "--listen", &listen]);
    assert!(live.status.success());
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let output = server.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "exit after SIGTERM: {}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!(":{port}/docs/")), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a non-terminal log: {stderr}"
    );

    let help = run(&[], &["healthcheck", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--listen") && help.contains("--live"),
        "{help}"
    );
}

/// A wrong password, or a database Redis does not have: every call is 503 `unavailable`
/// (never 500), and the log says in words what is wrong, without the password.
#[tokio::test]
async fn wrong_credentials_or_database_are_503_with_a_clear_log_line() {
    let redis = RedisServer::start_with(&["--requirepass", "right-pass-0"]);
    let mark = log_mark();
    let wrong_password = format!("--redis-url=redis://:Wr0ngPa55@127.0.0.1:{}", redis.port);
    let no_such_db = format!(
        "--redis-url=redis://:right-pass-0@127.0.0.1:{}/99",
        redis.port
    );
    for (flag, words) in [
        (wrong_password, "refused taskgate's credentials"),
        (no_such_db, "refused to set up the connection"),
    ] {
        let app = TestApp::start_with(&redis, &[&flag, "--reaper-interval-ms=0"]).await;
        app.get("/readyz").await.assert_problem(503, "unavailable");
        app.post(
            &format!("/v1/queues/{}/tasks", queue("auth")),
            json!({"payload": 1}),
        )
        .await
        .assert_problem(503, "unavailable");
        let lines = log_lines_since(mark, &format!("127.0.0.1:{}", redis.port));
        assert!(
            lines.iter().any(|l| l.contains(words)),
            "no log line says {words:?}: {lines:?}"
        );
    }
    let everything = log_lines("");
    assert!(
        !everything
            .iter()
            .any(|l| l.contains("Wr0ngPa55") || l.contains("right-pass-0")),
        "a password was logged"
    );
}
