//! Real `redis-server` processes for the tests: one on a free port (plain, TLS, or with extra
//! arguments), or a whole Redis Cluster, each watched by a tiny shell loop that kills it when
//! the test process exits, however it exits, so no Redis outlives the tests. Stop, kill,
//! restart, stall and look behind the API with plain Redis commands.
//!
//! Every Redis runs in a temporary directory of its own (`--dir`), so nothing it writes (a
//! replica's RDB from its first sync, an AOF, a cluster's node file) lands in the work tree.
//! The tests' own connections wait up to `RESPONSE_TIMEOUT` for a reply: the whole suite keeps
//! every core busy, where redis-rs's default of 500 ms fails tests that are right.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use deadpool_redis::redis;

use crate::harness::TempDir;

/// How long the tests' own Redis connections wait for a reply. Long enough for a machine whose
/// cores are all busy with the rest of the suite; a Redis that never answers still fails the
/// test rather than hanging it.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long they wait to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings of every async connection the tests open to Redis themselves.
pub fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
}

/// An async connection with `connection_config`.
pub async fn connect(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    client
        .get_multiplexed_async_connection_with_config(&connection_config())
        .await
}

/// A blocking connection whose connect, reads and writes are bounded (`CONNECT_TIMEOUT`, and
/// `reply` for reads and writes).
pub fn connect_blocking(
    client: &redis::Client,
    reply: Duration,
) -> redis::RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(reply))?;
    conn.set_write_timeout(Some(reply))?;
    Ok(conn)
}

/// A `redis-server` of our own, on a free port; or, in the cluster suite (`crate::CLUSTER`),
/// the shared one is a whole Redis Cluster.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    /// Its working directory (`--dir`), removed when this is dropped (or, for the shared
    /// server, which never is, by its watchdog once the test process is gone). `None` for a
    /// cluster, whose nodes have their own.
    dir: Option<TempDir>,
    /// When this stands for a cluster: the cluster (and `child` is its first node's watchdog
    /// stand-in, never used).
    cluster: Option<crate::redis_cluster::RedisCluster>,
    /// Extra `redis-server` arguments, kept for restarts.
    args: Vec<String>,
    /// The `requirepass` password, if the server has one.
    password: Option<String>,
    /// For a TLS-only server: the CA that signed its certificate (PEM).
    tls_ca: Option<Vec<u8>>,
}

impl RedisServer {
    /// Starts a new server and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a new server with extra arguments (`--requirepass x`, `--appendonly yes`, ...).
    pub fn start_with(args: &[&str]) -> Self {
        let port = free_port();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let password = password_in(&args);
        let dir = TempDir::new("redis");
        let child = spawn_redis(port, &dir.0, &args);
        let server = Self {
            port,
            child,
            dir: Some(dir),
            cluster: None,
            args,
            password,
            tls_ca: None,
        };
        server.wait_ready();
        server
    }

    /// Starts a server that speaks only TLS, with the certificate and key in `dir`
    /// (`server.pem`, `server.key`, signed by `ca.pem`), plus extra arguments.
    pub fn start_tls(dir: &TempDir, extra: &[&str]) -> Self {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--port 0".into(),
            format!("--tls-port {port}"),
            format!("--tls-cert-file {}", dir.join("server.pem").display()),
            format!("--tls-key-file {}", dir.join("server.key").display()),
            format!("--tls-ca-cert-file {}", dir.join("ca.pem").display()),
            "--tls-auth-clients no".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let own = TempDir::new("redis-tls");
        let server = Self {
            port,
            child: spawn_redis(port, &own.0, &args),
            dir: Some(own),
            cluster: None,
            password: password_in(&args),
            args,
            tls_ca: Some(std::fs::read(dir.join("ca.pem")).expect("ca.pem")),
        };
        server.wait_ready();
        server
    }

    /// The Redis every test in this binary may share: a Redis Cluster in the cluster suite.
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            if crate::CLUSTER {
                Self::start_cluster()
            } else {
                Self::start()
            }
        })
    }

    /// A Redis Cluster (three masters, three replicas) standing in for one server.
    pub fn start_cluster() -> Self {
        let cluster = crate::redis_cluster::RedisCluster::start();
        Self {
            port: cluster.ports[0],
            // An idle stand-in, so that the single-node fields have a value.
            child: Command::new("true").spawn().expect("spawn true"),
            dir: None,
            cluster: Some(cluster),
            args: Vec::new(),
            password: None,
            tls_ca: None,
        }
    }

    /// The cluster this stands for (panics when it is a single server).
    #[allow(dead_code)] // Used by `tests/cluster` only.
    pub fn cluster(&self) -> &crate::redis_cluster::RedisCluster {
        self.cluster.as_ref().expect("a cluster")
    }

    #[allow(dead_code)] // Used by `tests/cluster` only.
    pub fn cluster_mut(&mut self) -> &mut crate::redis_cluster::RedisCluster {
        self.cluster.as_mut().expect("a cluster")
    }

    /// The URL taskgate is given (without any password).
    pub fn url(&self) -> String {
        if let Some(cluster) = &self.cluster {
            return cluster.url();
        }
        match self.tls_ca {
            Some(_) => format!("rediss://localhost:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The URL the tests use to look behind the API, with the password if there is one.
    fn admin_url(&self) -> String {
        match &self.password {
            Some(password) => self.url().replacen("://", &format!("://:{password}@"), 1),
            None => self.url(),
        }
    }

    /// A client for looking behind the API (over TLS, trusting the test CA, if need be).
    fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.tls_ca {
            None => redis::Client::open(self.admin_url()),
            Some(ca) => redis::Client::build_with_tls(
                self.admin_url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                },
            ),
        }
    }

    /// Stops the server at once, keeping nothing; its watchdog shell then exits too. Should
    /// Redis not take the SHUTDOWN (it may not be answering), the watchdog is told to kill it.
    pub fn stop(&mut self) {
        if self.cluster.take().is_some() {
            return;
        }
        let _ = self
            .client()
            .and_then(|c| connect_blocking(&c, Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c));
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no shutdown, no
    /// final save. What it had written to its AOF is all that is left.
    pub fn kill(&mut self) {
        signal("KILL", &self.pid());
        let _ = self.child.wait();
    }

    /// Stops the server's process (SIGSTOP), as a stalled machine would: it keeps its
    /// connections and answers nothing until the guard is dropped (SIGCONT), even if the test
    /// fails first.
    pub fn stopped(&self) -> Stopped<'_> {
        let pid = self.pid();
        signal("STOP", &pid);
        Stopped(self, pid)
    }

    /// The server's process id, as it reports it.
    fn pid(&self) -> String {
        let info: String = self
            .client()
            .and_then(|c| connect_blocking(&c, RESPONSE_TIMEOUT))
            .and_then(|mut c| redis::cmd("INFO").arg("server").query(&mut c))
            .expect("INFO server");
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .expect("process_id")
            .trim()
            .to_owned()
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        let dir = self
            .dir
            .as_ref()
            .expect("a single server restarts, not a cluster");
        self.child = spawn_redis(self.port, &dir.0, &self.args);
        self.wait_ready();
    }

    /// A plain Redis connection, for looking behind the API.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        connect(&self.client().expect("redis url"))
            .await
            .expect("connect to test redis")
    }

    /// How many calls of `command` (`hset`, `fcall`, `evalsha`) this Redis has run so far,
    /// those inside scripts included (`INFO commandstats`).
    pub async fn calls_of(&self, command: &str) -> u64 {
        let info: String = self.cmd(&["INFO", "commandstats"]).await;
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Sends one command to this Redis (in a cluster, to the node its key names).
    pub async fn cmd<T: redis::FromRedisValue + Send + 'static>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let result = match &self.cluster {
            Some(cluster) => cluster.query(cmd).await,
            None => cmd.query_async(&mut self.connection().await).await,
        };
        result.unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// This Redis's clock (`TIME`), in milliseconds since the epoch: the clock the scripts
    /// stamp tasks with.
    pub async fn now_ms(&self) -> i64 {
        let time: Vec<String> = self.cmd(&["TIME"]).await;
        let seconds: i64 = time[0].parse().expect("TIME seconds");
        let micros: i64 = time[1].parse().expect("TIME microseconds");
        seconds * 1000 + micros / 1000
    }

    /// Keeps Redis busy with one script for `ms` milliseconds, on a thread of its own, as a long
    /// `EVAL` in production would. Other clients wait (or, past `busy-reply-threshold`, get
    /// `BUSY`) until it ends; join the handle to wait for the end.
    pub fn stall(&self, ms: u64) -> std::thread::JoinHandle<()> {
        const BUSY_LOOP: &str = "local t = redis.call('TIME') \
            local start = t[1] * 1000000 + t[2] \
            while true do \
              local n = redis.call('TIME') \
              if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 then return 1 end \
            end";
        let client = self.client();
        std::thread::spawn(move || {
            // The script's own time, plus the usual margin for the reply.
            let reply = Duration::from_millis(ms) + RESPONSE_TIMEOUT;
            let mut conn = client
                .and_then(|c| connect_blocking(&c, reply))
                .expect("connect for the stall");
            let _: i64 = redis::cmd("EVAL")
                .arg(BUSY_LOOP)
                .arg(0)
                .arg(ms)
                .query(&mut conn)
                .expect("the busy script");
        })
    }

    /// `CONFIG SET name value`.
    pub async fn config_set(&self, name: &str, value: &str) {
        let () = self.cmd(&["CONFIG", "SET", name, value]).await;
    }

    /// A field of Redis's `INFO memory`, in bytes (`used_memory`, `used_memory_dataset`, ...).
    pub async fn memory(&self, field: &str) -> u64 {
        let [value] = self.memories([field]).await;
        value
    }

    /// Fields of one `INFO memory` reply, so they are of the same instant.
    pub async fn memories<const N: usize>(&self, fields: [&str; N]) -> [u64; N] {
        let info: String = self.cmd(&["INFO", "memory"]).await;
        fields.map(|field| {
            info.lines()
                .find_map(|line| line.strip_prefix(&format!("{field}:")))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("{field} in INFO memory"))
        })
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong = self
                .client()
                .and_then(|c| connect_blocking(&c, Duration::from_secs(1)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `--requirepass` password among redis-server arguments.
fn password_in(args: &[String]) -> Option<String> {
    let at = args.iter().position(|a| a == "--requirepass")?;
    args.get(at + 1).cloned()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs redis-server in `dir` (its `--dir`; a `--dir` among `args` wins) under a watchdog shell
/// that kills it once this test process is gone, and then removes `dir`.
/// A server stopped by `RedisServer::stopped`; dropping it lets it go on. It borrows the server,
/// so the server (whose own drop needs it to answer) cannot go first.
pub struct Stopped<'a>(#[allow(dead_code)] &'a RedisServer, String);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        // Best effort, never a panic here (this may run while a failed test unwinds).
        let _ = Command::new("kill").args(["-CONT", &self.1]).status();
    }
}

/// Sends `name` (`KILL`, `STOP`, `CONT`) to process `pid`, as `kill` does.
fn signal(name: &str, pid: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), pid])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{name} {pid}");
}

pub fn spawn_redis(port: u16, dir: &Path, args: &[String]) -> Child {
    let extra = args.join(" ");
    spawn_watched(
        &format!(
            "{} --bind 127.0.0.1 --port {port} --dir '{}' --save '' --appendonly no \
             --maxmemory-policy noeviction --loglevel warning {extra}",
            redis_server_binary(),
            dir.display()
        ),
        Some(dir),
    )
}

/// The `redis-server` the tests run (`TASKGATE_TEST_REDIS_SERVER`, else the one on `PATH`).
pub fn redis_server_binary() -> String {
    std::env::var("TASKGATE_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Runs `command` (a Redis process) under the watchdog shell. When the test process is gone,
/// the watchdog stops Redis, waits for it to exit and removes `leftovers` (its directory), which
/// a static that is never dropped (the shared server) would otherwise leave behind.
pub fn spawn_watched(command: &str, leftovers: Option<&Path>) -> Child {
    let cleanup = leftovers
        .map(|dir| {
            format!(
                "kill -0 {parent} 2>/dev/null || rm -rf '{}'; ",
                dir.display(),
                parent = std::process::id()
            )
        })
        .unwrap_or_default();
    let script = format!(
        "{command} & \
         redis=$!; trap 'kill $redis 2>/dev/null; exit 0' TERM; \
         while kill -0 {parent} 2>/dev/null && kill -0 $redis 2>/dev/null; do sleep 0.5; done; \
         kill $redis 2>/dev/null; wait $redis; {cleanup}",
        parent = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn redis-server (is it installed?)")
}
