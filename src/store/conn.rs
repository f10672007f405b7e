//! Connections to Redis, and what their errors mean. With `endpoint.rs` (one node, a cluster,
//! or Sentinel), the only code that knows how taskgate is connected to Redis.
//!
//! Concurrent requests share a few multiplexed connections: redis-rs pipelines every command
//! sent on one connection over a single socket and matches replies in order, so a request never
//! holds a connection for itself. deadpool only manages how many there are and replaces broken
//! ones: `Connections::get` checks one out, clones its handle (cheap) and gives the slot back at
//! once. Concurrency is therefore not capped by the pool size, and a slow Redis costs a request
//! a 503 only when that request's own command passes the response timeout. The one exception
//! is a replicated write, whose `WAIT` would block a shared connection: it holds a connection
//! of a second pool alone (`Connections::get_exclusive`).
//!
//! Why not `deadpool_redis::Manager`: it sends `UNWATCH` + `PING` on every checkout, doubling the
//! round trips of every operation. Here recycling is free; a connection that failed with an I/O
//! error (or timed out again and again without a single reply, or was left blocked in a `WAIT`
//! its caller abandoned) is marked broken by whoever saw the failure, and the pool replaces it
//! at its next checkout (the pools: `conn/pool.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use deadpool_redis::redis::{self, ErrorKind, FromRedisValue, RedisError, ServerErrorKind, Value};

use super::StoreError;
use super::endpoint::Link;
use super::outage::{Cause, Unavailable};
use super::script::Library;
use super::settings::Replication;

mod pool;
pub use pool::Connections;

/// Timeouts in a row, with no reply in between, after which a connection is presumed dead (a
/// peer that vanished without closing the socket never sends the EOF that would tell us).
const TIMEOUTS_BEFORE_RECONNECT: u32 = 3;

/// A shared handle to one multiplexed connection (to a node, or to a whole cluster). Cheap to
/// clone; clones share its health.
#[derive(Clone)]
pub struct Conn {
    link: Link,
    health: Arc<Health>,
}

#[derive(Default)]
struct Health {
    broken: AtomicBool,
    timeouts_in_a_row: AtomicU32,
}

impl Conn {
    /// Calls a script's function (`FCALL`, in a cluster in its keys' slot). When Redis does not
    /// have it (a restart without persistence, a new primary, `FUNCTION FLUSH`, or simply the
    /// first call of this version), loads the library on that slot's primary and calls again,
    /// once. When Redis refuses to load it (`OOM`: it is full; `NOPERM`: an ACL allows scripts
    /// but not functions) or to call it (`NOPERM`), runs the same code as an EVAL script
    /// instead. Any other refusal (a library that does not compile) is an error, not hidden.
    pub async fn fcall(
        &mut self,
        fcall: &redis::Cmd,
        library: &Library,
    ) -> Result<Value, StoreError> {
        // Its slot's key (the first), needed only on the way that loads.
        let first_key = || nth_arg(fcall, 3);
        let result = match self.send(fcall).await {
            Err(err)
                if err
                    .detail()
                    .is_some_and(|d| d.starts_with("Function not found")) =>
            {
                let mut load = redis::cmd("FUNCTION");
                load.arg("LOAD").arg(&library.text);
                match self.send_to_slot::<Value>(&load, &first_key()).await {
                    Ok(_) => self.send(fcall).await,
                    // Another call (of this instance or another) loaded it first.
                    Err(err) if err.detail().is_some_and(|d| d.contains("already exists")) => {
                        self.send(fcall).await
                    }
                    Err(err) if refused(&err) => self.evalsha(fcall, library, &first_key()).await,
                    Err(err) => Err(err),
                }
            }
            Err(err) if err.code() == Some("NOPERM") => {
                self.evalsha(fcall, library, &first_key()).await
            }
            other => other,
        };
        self.observe(result)
    }

    /// `fcall`'s call as `EVALSHA` of the library's EVAL form (the same arguments after the
    /// function's name), loading the script on `NOSCRIPT`.
    async fn evalsha(
        &mut self,
        fcall: &redis::Cmd,
        library: &Library,
        first_key: &str,
    ) -> Result<Value, RedisError> {
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha.arg(&library.eval_sha);
        for arg in fcall.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                evalsha.arg(bytes);
            }
        }
        match self.send(&evalsha).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let mut load = redis::cmd("SCRIPT");
                load.arg("LOAD").arg(&library.eval_text);
                self.send_to_slot::<String>(&load, first_key).await?;
                self.send(&evalsha).await
            }
            other => other,
        }
    }

    /// Sends `cmd` to the primary of `slot_key`'s slot (the one node when not a cluster).
    async fn send_to_slot<T: FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        slot_key: &str,
    ) -> Result<T, RedisError> {
        match &mut self.link {
            Link::Node(conn) => cmd.query_async(conn).await,
            Link::Cluster(conn) => {
                let route = redis::cluster_routing::RoutingInfo::SingleNode(slot_primary(slot_key));
                conn.route_command(cmd.clone(), route)
                    .await
                    .and_then(|value| T::from_redis_value(value).map_err(Into::into))
            }
        }
    }

    /// Sends one command (in a cluster, where redis-rs routes it).
    pub async fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let result = self.send(cmd).await;
        self.observe(result)
    }

    async fn send<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        match &mut self.link {
            Link::Node(conn) => cmd.query_async(conn).await,
            Link::Cluster(conn) => cmd.query_async(conn).await,
        }
    }

    /// `WAIT`: until `replication.replicas` replicas have every write sent on this connection so
    /// far, or the timeout; how many did. In a cluster, to the master of `marker_key`'s slot, on
    /// the same node connection the script used. It blocks the connection meanwhile, hence a
    /// connection of its own (`Held`).
    ///
    /// A `WAIT` covers only the writes of its own connection, and a script may have written
    /// nothing while answering from writes that are not on the replicas yet (a replay of a
    /// task another call created a moment ago, on another connection or another instance). So
    /// the same pipeline first writes a marker (`marker_key`, `KeySpace::replica_marker`):
    /// Redis replicates in the order it writes, so replicas that have the marker have every
    /// write made before it, whoever made it. A marker Redis refuses (`OOM` at maxmemory,
    /// where some scripts may still write) confirms nothing: the answer is 0 replicas.
    pub async fn wait_replicas(
        &mut self,
        replication: Replication,
        marker_key: &str,
    ) -> Result<u32, StoreError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        pipe.cmd("SET").arg(marker_key).arg(1).arg("PX").arg(60_000);
        pipe.cmd("WAIT")
            .arg(replication.replicas)
            .arg(u64::try_from(replication.timeout.as_millis()).unwrap_or(u64::MAX));
        let abandoned = BrokenIfAbandoned(Some(self.health.clone()));
        let replies = match &mut self.link {
            Link::Node(conn) => pipe.query_async::<Vec<Value>>(conn).await,
            Link::Cluster(conn) => {
                conn.route_pipeline(pipe, 0, 2, slot_primary(marker_key))
                    .await
            }
        };
        let waited = replies.and_then(|replies| match <[Value; 2]>::try_from(replies) {
            Ok([Value::ServerError(refused), _]) => {
                tracing::warn!(error = ?refused, "the replica marker was refused: not confirmed");
                Ok(0)
            }
            Ok([_, waited]) => i64::from_redis_value(waited.extract_error()?).map_err(Into::into),
            Err(_) => Err(RedisError::from((ErrorKind::Client, "WAIT: no reply"))),
        });
        // A WAIT that timed out on our side may still hold the connection in Redis: as if
        // abandoned.
        if !matches!(&waited, Err(err) if err.is_timeout()) {
            abandoned.finished();
        }
        self.observe(waited)
            .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    /// Sends one command to the cluster node at `host:port` (for per-node commands such as
    /// `SCAN`); to the one node when not a cluster.
    pub async fn query_node<T: FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        host: &str,
        port: u16,
    ) -> Result<T, StoreError> {
        let result = match &mut self.link {
            Link::Node(conn) => cmd.query_async(conn).await,
            Link::Cluster(conn) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port,
                });
                conn.route_command(cmd.clone(), route)
                    .await
                    .and_then(|value| T::from_redis_value(value).map_err(Into::into))
            }
        };
        self.observe(result)
    }

    /// Keeps the connection's health up to date and classifies the error.
    fn observe<T>(&self, result: Result<T, RedisError>) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.health.timeouts_in_a_row.store(0, Ordering::Relaxed),
            // A timed-out command does not desynchronise a multiplexed connection (its late
            // reply is matched to it and dropped), so one timeout is no reason to reconnect.
            Err(err) if err.is_timeout() => {
                let timeouts = self
                    .health
                    .timeouts_in_a_row
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                if timeouts >= TIMEOUTS_BEFORE_RECONNECT {
                    self.health.broken.store(true, Ordering::Relaxed);
                }
            }
            // READONLY: this node is a replica now (a failover happened): connect again, to
            // whichever node is the master now.
            Err(err)
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.code() == Some("READONLY") =>
            {
                self.health.broken.store(true, Ordering::Relaxed);
            }
            // A server error is an answer: the connection works.
            Err(_) => self.health.timeouts_in_a_row.store(0, Ordering::Relaxed),
        }
        result.map_err(|err| classify(&err))
    }
}

/// Marks a connection broken when dropped before `finished`: a `WAIT` abandoned midway (its
/// caller went away) still blocks the connection in Redis, and whoever checked it out next
/// would queue behind it for up to the replica wait. Broken, it is replaced at its next
/// checkout instead (it waits in the pool until then), and closing it frees Redis of the wait.
struct BrokenIfAbandoned(Option<Arc<Health>>);

impl BrokenIfAbandoned {
    fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for BrokenIfAbandoned {
    fn drop(&mut self) {
        if let Some(health) = &self.0 {
            health.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// In a cluster, the primary of `key`'s slot.
fn slot_primary(key: &str) -> redis::cluster_routing::SingleNodeRoutingInfo {
    use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
    SingleNodeRoutingInfo::SpecificNode(Route::new(super::endpoint::slot(key), SlotAddr::Master))
}

/// Whether Redis refused to load a library for a reason an EVAL script does not have.
fn refused(err: &RedisError) -> bool {
    matches!(err.code(), Some("OOM" | "NOPERM"))
}

/// The `n`th argument of `cmd` (0 is the command's name) as text, or "".
fn nth_arg(cmd: &redis::Cmd, n: usize) -> String {
    match cmd.args_iter().nth(n) {
        Some(redis::Arg::Simple(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

fn unavailable(cause: Cause, detail: String) -> StoreError {
    StoreError::Unavailable(Unavailable { cause, detail })
}

/// Transient conditions (Redis down, slow, loading, busy with a script, out of memory,
/// read-only after a failover, refusing our credentials) are `Unavailable`: 503, retry later.
/// Anything else Redis answers is unexpected. Decided by error kinds and codes, never by text.
fn classify(err: &RedisError) -> StoreError {
    let cause = if err.is_timeout() {
        Some(Cause::Timeout)
    } else if err.is_io_error() || err.is_connection_refusal() || err.is_connection_dropped() {
        Some(Cause::Unreachable)
    } else {
        match (err.kind(), err.code()) {
            (ErrorKind::AuthenticationFailed, _) | (_, Some("NOAUTH" | "WRONGPASS")) => {
                Some(Cause::Credentials)
            }
            (ErrorKind::Server(ServerErrorKind::BusyLoading), _) => Some(Cause::Loading),
            (_, Some("BUSY")) => Some(Cause::Busy),
            (_, Some("OOM")) => Some(Cause::Full),
            (
                ErrorKind::Server(
                    ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly,
                ),
                _,
            )
            | (_, Some("MISCONF" | "NOREPLICAS")) => Some(Cause::NotWritable),
            _ => None,
        }
    };
    match cause {
        Some(cause) => unavailable(cause, err.to_string()),
        None => StoreError::Redis(err.to_string()),
    }
}
