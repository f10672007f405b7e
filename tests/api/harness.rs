//! Test harness: the real app on `127.0.0.1:0`, driven over HTTP, against the real
//! `redis-server` processes of `redis_server.rs`; captured logs, bounded waits, temporary
//! folders. Tests share one Redis per test binary; each app gets its own key prefix, so tests
//! never see each other's data.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub use crate::reply::Reply;
use taskgate::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The header that asks for replicated durability.
pub const REPLICATED: (&str, &str) = ("taskgate-durability", "replicated");

/// Flags of the failover tests: a dead Redis is noticed fast, and a replicated write may wait
/// 1.5 s for its replica. That is a bound, not a delay (`WAIT` answers as soon as the replica
/// has the write), generous because CI shares two cores among several Redis processes.
pub const FAILOVER_FLAGS: [&str; 3] = [
    "--redis-response-timeout-ms=2000",
    "--redis-connect-timeout-ms=500",
    "--replica-wait-ms=1500",
];

#[allow(unused_imports)] // not every binary that includes the harness uses them all
pub use crate::redis_server::{RedisServer, redis_server_binary, spawn_redis, spawn_watched};

/// Everything taskgate logs while the tests run, as plain text lines, so tests can check what
/// was (or was not) logged. Installed once per test binary, at the first app's start.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("taskgate=debug"))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log lines that contain `needle`.
pub fn log_lines(needle: &str) -> Vec<String> {
    log_lines_since(0, needle)
}

/// Where the captured log is now: pass it to `log_lines_since` to see only later lines.
pub fn log_mark() -> usize {
    captured_logs().lock().map(|l| l.len()).unwrap_or(0)
}

/// The lines captured after `mark` that contain `needle`.
pub fn log_lines_since(mark: usize, needle: &str) -> Vec<String> {
    let logs = captured_logs()
        .lock()
        .map(|l| l.get(mark..).unwrap_or_default().to_vec())
        .unwrap_or_default();
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// A running taskgate app, stopped when dropped.
pub struct TestApp {
    pub base: String,
    pub prefix: String,
    pub config: Config,
    pub client: reqwest::Client,
    addr: std::net::SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// The app against the shared Redis, with test-friendly defaults.
    pub async fn start() -> Self {
        Self::start_with(RedisServer::shared(), &[]).await
    }

    /// The app against `redis`, with extra flags in `--name=value` form (e.g.
    /// `--max-payload-bytes=10`), which replace the test defaults of the same name.
    pub async fn start_with(redis: &RedisServer, flags: &[&str]) -> Self {
        captured_logs();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        // Short, exact retry delays keep retry tests quick and their checks exact.
        let defaults = [
            format!("--redis-url={}", redis.url()),
            format!("--key-prefix={prefix}"),
            "--default-backoff-initial-ms=300".to_owned(),
            "--default-backoff-jitter=0".to_owned(),
            "--reaper-interval-ms=100".to_owned(),
            // Every app of a test binary shares the process's metrics, and with them the cap
            // on queues with series of their own: one test's series must not depend on how many
            // queues the others made. (The cap is tested on processes of their own.)
            "--metrics-max-queues=1000000".to_owned(),
        ];
        let overridden = |default: &String| {
            let name = default.split('=').next().unwrap_or_default();
            flags.iter().any(|f| f.split('=').next() == Some(name))
        };
        let mut args = vec!["taskgate"];
        args.extend(
            defaults
                .iter()
                .filter(|d| !overridden(d))
                .map(String::as_str),
        );
        args.extend_from_slice(flags);
        let config = Config::load_from(args).expect("valid test config");
        let prefix = config.key_prefix.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, served) = Self::serve(listener, &config);
        Self {
            base: format!("http://{addr}"),
            prefix,
            config,
            client: reqwest::Client::new(),
            addr,
            shutdown: Some(shutdown),
            served: Some(served),
        }
    }

    fn serve(
        listener: TcpListener,
        config: &Config,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let state = taskgate::state_from_config(config).expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let config = config.clone();
        let served = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            taskgate::serve(listener, state, &config, shutdown)
                .await
                .expect("serve");
        });
        (tx, served)
    }

    /// Stops the server as SIGTERM would (in-flight requests finish), stays down for `down`,
    /// then starts a new one, with fresh state, on the same address.
    pub async fn restart(&mut self, down: Duration) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("the server stopped");
        }
        tokio::time::sleep(down).await;
        let listener = TcpListener::bind(self.addr).await.expect("bind again");
        let (shutdown, served) = Self::serve(listener, &self.config);
        self.shutdown = Some(shutdown);
        self.served = Some(served);
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("http request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::POST, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// A request with extra headers (such as `If-Match`).
    pub async fn request_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::read(request.send().await.expect("http request")).await
    }

    /// After Redis lost its primary: submits a probe to `queue` every 100 ms until one is
    /// created, asserting every other answer is a `503` (never a `500`) and that it comes back
    /// within `within`. Returns how long that took.
    pub async fn served_again(&self, queue: &str, within: Duration) -> Duration {
        let since = Instant::now();
        loop {
            let reply = self
                .post(
                    &format!("/v1/queues/{queue}/tasks"),
                    json!({"payload": "probe"}),
                )
                .await;
            if reply.status == StatusCode::CREATED {
                return since.elapsed();
            }
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                reply.body
            );
            assert!(since.elapsed() < within, "{queue} was never served again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submits `body` to `queue` with `Taskgate-Durability: replicated`; the reply as it came.
    pub async fn submit_replicated(&self, queue: &str, body: Value) -> Reply {
        let path = format!("/v1/queues/{queue}/tasks");
        self.request_with(reqwest::Method::POST, &path, Some(&body), &[REPLICATED])
            .await
    }

    /// PATCHes the queue's policy with `body`, asserting the 200, and returns the policy view.
    pub async fn patch_policy(&self, queue: &str, body: Value) -> Value {
        let path = format!("/v1/queues/{queue}/policy");
        let reply = self
            .request(reqwest::Method::PATCH, &path, Some(&body))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "patch policy: {}", reply.body);
        reply.body
    }

    /// The queue's stats, asserting the 200.
    pub async fn queue_stats(&self, queue: &str) -> Value {
        let reply = self.get(&format!("/v1/queues/{queue}")).await;
        assert_eq!(reply.status, StatusCode::OK, "queue stats: {}", reply.body);
        reply.body
    }

    /// Submits `body` and returns the new task, asserting the 201.
    pub async fn submit(&self, queue: &str, body: Value) -> Value {
        let reply = self.post(&format!("/v1/queues/{queue}/tasks"), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "submit: {}", reply.body);
        reply.body
    }

    /// Leases with `body` and returns the leases, asserting the 200.
    pub async fn lease(&self, queue: &str, body: Value) -> Vec<Value> {
        let reply = self.post(&format!("/v1/queues/{queue}/leases"), body).await;
        assert_eq!(reply.status, StatusCode::OK, "lease: {}", reply.body);
        reply.body["leases"]
            .as_array()
            .expect("leases array")
            .clone()
    }

    /// Leases exactly one task, asserting there was one.
    pub async fn lease_one(&self, queue: &str) -> Value {
        let leases = self.lease(queue, json!({})).await;
        assert_eq!(leases.len(), 1, "expected one lease, got {leases:?}");
        leases[0].clone()
    }

    /// Polls lease (with the given body) until it hands out a task.
    pub async fn lease_when_ready(&self, queue: &str, body: Value) -> Value {
        let body = &body;
        eventually(&format!("a leasable task in {queue}"), || async move {
            self.lease(queue, body.clone()).await.into_iter().next()
        })
        .await
    }

    /// Polls the task until `done` holds for it, and returns it.
    pub async fn task_when(&self, queue: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let done = &done;
        eventually(
            &format!("task {id} to reach the expected state"),
            || async move {
                let task = self.task(queue, id).await;
                done(&task).then_some(task)
            },
        )
        .await
    }

    /// The task's metadata as stored in Redis, read behind the API's back: unlike `GET`, which
    /// settles what is due, this shows what the reaper (or nothing) has done.
    pub async fn stored_meta(&self, queue: &str, id: &str) -> Option<Value> {
        let key = format!("{}:{{q:{queue}}}:meta", self.prefix);
        let url = self
            .config
            .redis_url
            .as_deref()
            .expect("a test app has a Redis URL");
        let raw: Option<String> = if url.starts_with("redis+cluster://") {
            RedisServer::shared().cmd(&["HGET", &key, id]).await
        } else {
            let client = redis::Client::open(url).expect("redis url");
            let mut conn = crate::redis_server::connect(&client)
                .await
                .expect("connect to test redis");
            redis::cmd("HGET")
                .arg(&key)
                .arg(id)
                .query_async(&mut conn)
                .await
                .expect("HGET meta")
        };
        raw.map(|raw| serde_json::from_str(&raw).expect("stored meta is JSON"))
    }

    /// Polls the stored metadata (never the API) until `done` holds for it.
    pub async fn stored_meta_when(
        &self,
        queue: &str,
        id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let done = &done;
        eventually(
            &format!("stored task {id} to reach the expected state"),
            || async move { self.stored_meta(queue, id).await.filter(|meta| done(meta)) },
        )
        .await
    }

    pub async fn task(&self, queue: &str, id: &str) -> Value {
        let reply = self.get(&format!("/v1/queues/{queue}/tasks/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "get task: {}", reply.body);
        reply.body
    }

    /// Posts to a worker endpoint (`heartbeat`, `ack`, `fail`) of the leased task.
    pub async fn worker_call(&self, lease: &Value, action: &str, mut body: Value) -> Reply {
        body["lease_id"] = lease["lease_id"].clone();
        let task = &lease["task"];
        let path = format!(
            "/v1/queues/{}/tasks/{}/{action}",
            task["queue"].as_str().expect("queue"),
            task["id"].as_str().expect("id")
        );
        self.post(&path, body).await
    }

    /// A long-poll lease on `queue` (`wait_ms` 10 s), running in the background; its answer's
    /// body when it ends.
    pub fn long_poll(&self, queue: &str) -> tokio::task::JoinHandle<Value> {
        let (client, url) = (
            self.client.clone(),
            format!("{}/v1/queues/{queue}/leases", self.base),
        );
        tokio::spawn(async move {
            let answer = client
                .post(url)
                .json(&json!({"wait_ms": 10000}))
                .send()
                .await
                .expect("the long-poll answered");
            answer.json().await.expect("a JSON body")
        })
    }

    /// Waits until this app listens for `queue`'s events in `redis` (a waiter of it is
    /// registered and its subscription is live), so a change now will wake it.
    pub async fn subscribed(&self, redis: &RedisServer, queue: &str) {
        let channel = format!("{}:{{q:{queue}}}:events", self.prefix);
        eventually(&format!("a subscription to {channel}"), || async {
            (self.subscriptions(redis, queue).await >= 1).then_some(())
        })
        .await;
    }

    /// How many connections (one per instance) listen for `queue`'s events in `redis` now.
    pub async fn subscriptions(&self, redis: &RedisServer, queue: &str) -> i64 {
        let channel = format!("{}:{{q:{queue}}}:events", self.prefix);
        let counts: Vec<redis::Value> = redis.cmd(&["PUBSUB", "NUMSUB", &channel]).await;
        match counts.get(1) {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        }
    }

    /// Every Redis key this app has written.
    pub async fn keys(&self, redis: &RedisServer) -> Vec<String> {
        let mut conn = redis.connection().await;
        redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut conn)
            .await
            .expect("KEYS")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `probe` every 50 ms until it yields `Some`, failing the test after 10 s. For waits on
/// things that happen in the background (reaper sweeps, expiries, Redis coming back).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A time limit for a loop that waits for a count (tasks done, leases held): `check` fails the
/// test once it has passed, so a bug fails the test instead of hanging it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(limit: Duration) -> Self {
        Self(Instant::now() + limit)
    }

    pub fn check(&self, what: &str) {
        assert!(Instant::now() < self.0, "timed out waiting for {what}");
    }
}

/// A directory of its own under the system's temporary directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tg-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    pub fn display(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A queue name no other test uses.
pub fn queue(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Milliseconds since the epoch of an RFC 3339 time the API returned.
pub fn ms(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a time, got {value}"));
    taskgate::model::parse_rfc3339_ms(text).unwrap_or_else(|| panic!("bad time {text}"))
}
