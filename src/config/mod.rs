//! Server configuration: every setting is a command-line flag and a `TASKGATE_*` environment
//! variable, documented here once so that `--help` and the README stay in step.
//!
//! This module only parses and checks settings (the loading and checking are in `load.rs`); it
//! opens no connection and starts nothing.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};

mod debug;
mod defaults;
mod load;
mod threads;

pub use defaults::PolicyDefaults;
pub use load::ConfigError;

use crate::access::{Access, KeyRing};

/// taskgate: HTTP/REST task dispatch in front of Redis.
// (`Debug` is written by hand in `debug.rs`: it masks the Redis URL's password and leaves the
// API keys' text out. A doc comment here would show in `--help`.)
#[derive(Clone, Parser)]
#[command(name = "taskgate", version, about)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address the HTTP server listens on, as host:port (`localhost:8080`, `0.0.0.0:8080`,
    /// `[::1]:8080`). For `healthcheck`, the address of the server to check.
    #[arg(
        long,
        env = "TASKGATE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// Redis URL: `redis://host:port/db`, `rediss://` for TLS, `unix:///path/redis.sock`, each
    /// with optional `user:password@` for ACLs. When not set: the Redis answering at
    /// `--local-redis-probe` if there is one, else a `redis-server` child started in
    /// `--data-dir`.
    #[arg(long, env = "TASKGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// PEM file of the certificate authority that signed the Redis server's certificate, for
    /// `rediss://` URLs; by default the system's trusted roots.
    #[arg(long, env = "TASKGATE_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Where to look for a running Redis when `--redis-url` is not set.
    #[arg(
        long,
        env = "TASKGATE_LOCAL_REDIS_PROBE",
        default_value = "127.0.0.1:6379"
    )]
    pub local_redis_probe: String,

    /// Folder of the local `redis-server` child (its data, AOF and socket), used when
    /// `--redis-url` is not set and no Redis answers at `--local-redis-probe`.
    #[arg(long, env = "TASKGATE_DATA_DIR", default_value = "taskgate-data")]
    pub data_dir: PathBuf,

    /// The `redis-server` program started for a local Redis.
    #[arg(long, env = "TASKGATE_REDIS_SERVER", default_value = "redis-server")]
    pub redis_server: String,

    /// API keys, as JSON: `[{"name": "web", "role": "producer", "queues": ["billing."],
    /// "key": "..."}, {"name": "ops", "role": "admin", "key_sha256": "<hex>"}]`. Roles:
    /// producer, worker, admin; `queues` (prefixes) omitted = every queue. With no keys at all
    /// the API is open, which is allowed only on a loopback address.
    #[arg(long, env = "TASKGATE_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,

    /// File of API keys: the JSON of `--api-keys`, or TOML with one `[[keys]]` table per key.
    #[arg(long, env = "TASKGATE_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,

    /// Serve without API keys on a non-loopback address: anyone who can reach the port can
    /// submit, lease and delete. Only for networks where every client is trusted.
    #[arg(long, env = "TASKGATE_INSECURE_NO_AUTH", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub insecure_no_auth: bool,

    /// Who may read `/metrics`: `admin` (an admin key, when keys are configured) or `open`
    /// (anyone, for a Prometheus without credentials).
    #[arg(long, env = "TASKGATE_METRICS_ACCESS", default_value = "admin", value_parser = ["admin", "open"])]
    pub metrics_access: String,

    /// Most queues with series of their own in `/metrics` (`taskgate_task_transitions_total`,
    /// `taskgate_queue_tasks`). Queues seen after that many are summed under
    /// `queue="(other)"`, so clients that make up queue names cannot grow the metrics without
    /// bound. 0 puts every queue under `(other)`.
    #[arg(long, env = "TASKGATE_METRICS_MAX_QUEUES", default_value_t = crate::metrics::DEFAULT_MAX_QUEUES)]
    pub metrics_max_queues: usize,

    /// A queue's series leave `/metrics` once none of its tasks has changed state for this long
    /// and it holds none that is scheduled, ready, leased, dead or quarantined (and at once
    /// when it is deleted). They come back, counting from 0, with its next task.
    #[arg(long, env = "TASKGATE_METRICS_QUEUE_IDLE_MS", default_value_t = crate::metrics::DEFAULT_QUEUE_IDLE.as_millis() as u64)]
    pub metrics_queue_idle_ms: u64,

    /// Prefix of every Redis key taskgate writes, so several deployments can share one Redis.
    #[arg(long, env = "TASKGATE_KEY_PREFIX", default_value = "tg")]
    pub key_prefix: String,

    /// Most shared Redis connections this instance keeps open. Each one is multiplexed: any
    /// number of concurrent requests share it, pipelined on one socket. (Writes sent with
    /// `Taskgate-Durability: replicated` each hold a connection of a second pool, of up to 8×
    /// this size, opened only when they come.)
    #[arg(long, env = "TASKGATE_REDIS_POOL_SIZE", default_value_t = 4)]
    pub redis_pool_size: usize,

    /// How long a request waits for a Redis connection to be opened before it fails with 503.
    #[arg(long, env = "TASKGATE_REDIS_WAIT_TIMEOUT_MS", default_value_t = 1000)]
    pub redis_wait_timeout_ms: u64,

    /// How long opening a Redis connection may take before it fails with 503.
    #[arg(
        long,
        env = "TASKGATE_REDIS_CONNECT_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub redis_connect_timeout_ms: u64,

    /// How long one Redis command may take before it fails with 503.
    #[arg(
        long,
        env = "TASKGATE_REDIS_RESPONSE_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub redis_response_timeout_ms: u64,

    /// Longest time a request may take end to end before it is answered with 408.
    #[arg(long, env = "TASKGATE_REQUEST_TIMEOUT_MS", default_value_t = 35000)]
    pub request_timeout_ms: u64,

    /// Largest total size of a request's headers, in bytes; larger → 431.
    #[arg(long, env = "TASKGATE_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,

    /// Most API requests handled at once (waiting ones aside); more are refused at once with
    /// 503 and `Retry-After`, so an overload gives fast refusals instead of a queue of timeouts.
    #[arg(long, env = "TASKGATE_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Most requests waiting at once (long-poll leases, result waits, event streams), counted
    /// apart so they never crowd out short calls; more are refused with 503.
    #[arg(long, env = "TASKGATE_MAX_WAITING_REQUESTS", default_value_t = 10_000)]
    pub max_waiting_requests: usize,

    /// Longest a task's event stream stays open, in ms; it then ends with a `reconnect` event,
    /// and `EventSource` connects again by itself (it gets the task's current state first). So
    /// a stream on a task scheduled far ahead does not hold a connection and a waiting slot for
    /// as long.
    #[arg(long, env = "TASKGATE_EVENT_STREAM_MAX_MS", default_value_t = 600_000)]
    pub event_stream_max_ms: u64,

    /// Most client connections open at once. A connection past it is refused as it is accepted
    /// (a `503` if the client listens, then closed), before it costs more than a socket. Keep
    /// it above the two request limits together, and the process's open-file limit
    /// (`ulimit -n`) above it.
    #[arg(long, env = "TASKGATE_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// How long a client may take to send a request's headers: from the moment its connection
    /// is accepted, or on a kept-alive connection from the first byte of its next request.
    /// Then the connection is closed.
    #[arg(
        long,
        env = "TASKGATE_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,

    /// How long a kept-alive connection may stay open between requests (from the end of one
    /// response to the first byte of the next). A request in progress is never cut by it: a
    /// long-poll, a result wait or an event stream is bounded by its own limits.
    #[arg(long, env = "TASKGATE_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Deepest nesting of arrays and objects in a payload or an ack result; deeper is refused
    /// with 422. The default keeps every task readable by common JSON parsers, serde_json's
    /// limit of 128 included, with the 4 levels a lease answer adds around a payload.
    #[arg(long, env = "TASKGATE_MAX_JSON_DEPTH", default_value_t = crate::model::MAX_JSON_DEPTH_DEFAULT)]
    pub max_json_depth: usize,

    /// Replicas a submit or ack sent with `Taskgate-Durability: replicated` must reach (Redis
    /// `WAIT`) before it is answered with a 2xx.
    #[arg(long, env = "TASKGATE_DURABLE_REPLICAS", default_value_t = 1)]
    pub durable_replicas: u32,

    /// How long such a write waits for its replicas before it is answered with 503 (at most
    /// the Redis response timeout less 100 ms: the wait is one Redis command).
    #[arg(long, env = "TASKGATE_REPLICA_WAIT_MS", default_value_t = 1000)]
    pub replica_wait_ms: u64,

    /// Threads that serve requests; 0 means one per CPU core, less one when Redis runs on this
    /// machine (no URL, a Unix socket, or loopback hosts only), at least one (`threads.rs`).
    #[arg(long, env = "TASKGATE_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish before the server
    /// exits anyway.
    #[arg(long, env = "TASKGATE_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,

    /// Largest task payload (and ack result) in bytes of its JSON text as sent; also the default
    /// of the policy's `max_payload_bytes`. Request bodies may be this plus 64 KiB of envelope.
    #[arg(long, env = "TASKGATE_MAX_PAYLOAD_BYTES", default_value_t = 1_048_576)]
    pub max_payload_bytes: u64,

    /// How often each instance runs a sweep for expired leases, due retries and expired
    /// terminal tasks: up to 200 queues a tick, taking turns when there are more. 0 turns the
    /// sweep off (for tests of other parts only).
    #[arg(long, env = "TASKGATE_REAPER_INTERVAL_MS", default_value_t = 500)]
    pub reaper_interval_ms: u64,

    /// Log format: `text` or `json`. The level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "TASKGATE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Web origins allowed to call the API from a browser (CORS), comma-separated, such as
    /// `https://app.example.com`; `*` allows any. None by default.
    #[arg(long, env = "TASKGATE_CORS_ORIGINS", value_delimiter = ',', num_args = 0..)]
    pub cors_origins: Vec<String>,

    /// Log one line per request (method, route, status, duration, request id) at `info`, and
    /// for the probes (`/healthz`, `/readyz`) at `debug`. Turn off for very high request rates.
    #[arg(long, env = "TASKGATE_ACCESS_LOG", default_value_t = true, action = ArgAction::Set)]
    pub access_log: bool,

    #[command(flatten)]
    pub defaults: PolicyDefaults,

    /// The keys read from `--api-keys` or `--api-keys-file`.
    #[arg(skip)]
    pub keys: KeyRing,
}

/// Commands other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print the OpenAPI document (JSON) to stdout, e.g. to refresh `openapi/openapi.json`.
    Openapi,
    /// Exit 0 when the server at `--listen` can serve (`/readyz` answers 200: it is up and
    /// Redis answers), else 1. For container health checks.
    Healthcheck {
        /// Only check that the process is alive (`/healthz`), whatever Redis does.
        #[arg(long)]
        live: bool,
    },
}

impl Config {
    /// Who may call what.
    pub fn access(&self) -> Access {
        Access {
            keys: self.keys.clone(),
            metrics_open: self.metrics_access == "open",
        }
    }

    /// The address to listen on (or to check), resolving a host name such as `localhost`.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.listen))
    }

    /// Largest request body accepted: the payload cap plus room for the JSON envelope.
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_payload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(64 * 1024)
    }

    /// Longest a task's event stream stays open.
    pub fn event_stream_max(&self) -> Duration {
        Duration::from_millis(self.event_stream_max_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// How long a replicated write waits for its replicas (see `replica_wait_ms`).
    pub fn replica_wait(&self) -> Duration {
        let ceiling = self.redis_response_timeout_ms.saturating_sub(100).max(1);
        Duration::from_millis(self.replica_wait_ms.min(ceiling))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn metrics_queue_idle(&self) -> Duration {
        Duration::from_millis(self.metrics_queue_idle_ms)
    }

    pub fn reaper_interval(&self) -> Option<Duration> {
        (self.reaper_interval_ms > 0).then(|| Duration::from_millis(self.reaper_interval_ms))
    }
}
