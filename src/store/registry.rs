//! Which queues exist: the registry the reaper sweeps and the queue listing reads.
//!
//! The registry is a sorted set of names (all scores 0, so it reads in name order). It is
//! bookkeeping only, never the truth: a queue exists while any of its keys does, and the
//! registry heals itself from those keys.
//!
//! - Written off the hot path: after a submit, at most once per `REGISTER_REFRESH` per queue
//!   per process, in a background command, so no request waits for it.
//! - Healed by the reaper: each tick scans a bounded slice of the keyspace for queues' keys
//!   (`scan_for_queues`) and adds their queues back, so after a `DEL`, a `FLUSHALL` or a
//!   restart without persistence every queue that still holds anything is registered again
//!   within one scan cycle.
//! - Shrunk by the reaper: a queue whose sweep finds nothing left in it is removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis;

use super::{Engine, StoreError};
use crate::model::QueueName;

/// How often a process re-registers a queue it keeps submitting to.
const REGISTER_REFRESH: Duration = Duration::from_secs(15);
/// Entries the per-process "recently registered" memo may hold before old ones are dropped.
const REGISTER_MEMO_MAX: usize = 10_000;

/// The registry, shared by the services that create queues (tasks, policies), list and delete
/// them (queues) and sweep them (sweep). Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    engine: Engine,
    /// When this process last wrote each queue it submitted to into the registry.
    registered: Arc<Mutex<HashMap<QueueName, Instant>>>,
    /// Where the registry's scan of a cluster's primaries is.
    cluster_scan: Arc<Mutex<ClusterScan>>,
}

impl Registry {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            registered: Arc::default(),
            cluster_scan: Arc::default(),
        }
    }

    /// Registers `queue` in the background unless this process did so recently.
    pub fn note_queue(&self, queue: &QueueName) {
        {
            let Ok(mut memo) = self.registered.lock() else {
                return;
            };
            if memo
                .get(queue)
                .is_some_and(|at| at.elapsed() < REGISTER_REFRESH)
            {
                return;
            }
            if memo.len() >= REGISTER_MEMO_MAX {
                memo.retain(|_, at| at.elapsed() < REGISTER_REFRESH);
            }
            memo.insert(queue.clone(), Instant::now());
        }
        let (registry, queue) = (self.clone(), queue.clone());
        tokio::spawn(async move {
            if let Err(err) = registry.register(std::slice::from_ref(&queue)).await {
                // The reaper's scan will find the queue anyway; try again on the next submit.
                tracing::debug!(queue = %queue, error = %err, "could not register the queue yet");
                if let Ok(mut memo) = registry.registered.lock() {
                    memo.remove(&queue);
                }
            }
        });
    }

    /// Adds queues to the registry.
    pub async fn register(&self, queues: &[QueueName]) -> Result<(), StoreError> {
        if queues.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(self.engine.keys().queue_registry());
        for queue in queues {
            cmd.arg(0).arg(queue.as_str());
        }
        let _: i64 = self.engine.query(&cmd).await?;
        Ok(())
    }

    /// Removes a queue from the registry.
    pub async fn unregister(&self, queue: &QueueName) -> Result<(), StoreError> {
        let cmd = redis::cmd("ZREM")
            .arg(self.engine.keys().queue_registry())
            .arg(queue.as_str())
            .clone();
        let _: i64 = self.engine.query(&cmd).await?;
        if let Ok(mut memo) = self.registered.lock() {
            memo.remove(queue);
        }
        Ok(())
    }

    /// Up to `limit` registered queues in name order, after `after` (from the start if `None`).
    pub async fn queues_after(
        &self,
        after: Option<&QueueName>,
        limit: usize,
    ) -> Result<Vec<QueueName>, StoreError> {
        let start = match after {
            Some(name) => format!("({name}"),
            None => "-".to_owned(),
        };
        let cmd = redis::cmd("ZRANGE")
            .arg(self.engine.keys().queue_registry())
            .arg(start)
            .arg("+")
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .clone();
        let names: Vec<String> = self.engine.query(&cmd).await?;
        // A name that fails the check cannot come from taskgate; skip it rather than stop.
        Ok(names
            .iter()
            .filter_map(|n| QueueName::parse(n).ok())
            .collect())
    }

    /// One step of the registry's self-healing: scans about `count` keys from `cursor` for
    /// queues' keys. Returns the cursor to continue from (0 when a full pass of the keyspace is
    /// complete) and the queues found, for the caller to register. In a cluster each primary's
    /// keyspace is scanned in turn (see `ClusterScan`).
    pub async fn scan_for_queues(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<QueueName>), StoreError> {
        let keys = self.engine.keys();
        let mut scan = redis::cmd("SCAN");
        let (next, found): (u64, Vec<String>) = if self.engine.endpoint().is_cluster() {
            self.scan_cluster(&mut scan, count).await?
        } else {
            scan.arg(cursor)
                .arg("MATCH")
                .arg(keys.queue_keys_pattern())
                .arg("COUNT")
                .arg(count);
            self.engine.query(&scan).await?
        };
        let mut queues: Vec<QueueName> = found
            .iter()
            .filter_map(|key| keys.queue_of_key(key))
            .collect();
        queues.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        queues.dedup();
        Ok((next, queues))
    }

    /// One `SCAN` step in a cluster: on the primary whose turn it is, from where its own scan
    /// left off. The list of primaries is read afresh at the start of every pass, so a
    /// failover or a reshard is followed. Answers 0 as the cursor when the pass is complete.
    async fn scan_cluster(
        &self,
        scan: &mut redis::Cmd,
        count: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let (node, cursor) = {
            let state = self.cluster_scan.lock().map_err(|_| poisoned())?;
            (state.nodes.get(state.at).cloned(), state.cursor)
        };
        let Some((host, port)) = node else {
            let nodes = self.primaries().await?;
            let mut state = self.cluster_scan.lock().map_err(|_| poisoned())?;
            *state = ClusterScan {
                nodes,
                at: 0,
                cursor: 0,
            };
            return Ok((u64::from(!state.nodes.is_empty()), Vec::new()));
        };
        scan.arg(cursor)
            .arg("MATCH")
            .arg(self.engine.keys().queue_keys_pattern())
            .arg("COUNT")
            .arg(count);
        let result: Result<(u64, Vec<String>), StoreError> =
            self.engine.query_node(scan, &host, port).await;
        let mut state = self.cluster_scan.lock().map_err(|_| poisoned())?;
        let (next, found) = match result {
            Ok(answer) => answer,
            // The node may be gone (a failover): start the pass again from a fresh list.
            Err(err) => {
                state.nodes.clear();
                return Err(err);
            }
        };
        state.cursor = next;
        if next == 0 {
            state.at += 1;
            if state.at >= state.nodes.len() {
                state.nodes.clear();
                return Ok((0, found));
            }
        }
        Ok((1, found))
    }

    /// The cluster's primaries that are not failing, as (host, port), from `CLUSTER NODES`.
    async fn primaries(&self) -> Result<Vec<(String, u16)>, StoreError> {
        let nodes: String = self
            .engine
            .query(redis::cmd("CLUSTER").arg("NODES"))
            .await?;
        Ok(nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = *fields.get(2)?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let address = fields.get(1)?.split('@').next()?;
                let (host, port) = address.rsplit_once(':')?;
                Some((host.to_owned(), port.parse().ok()?))
            })
            .collect())
    }

    /// How many keys Redis holds: sizes the registry scan so a full pass takes about as many
    /// ticks whatever the keyspace's size.
    pub async fn key_count(&self) -> Result<u64, StoreError> {
        self.engine.query(&redis::cmd("DBSIZE")).await
    }
}

/// Where the registry's scan of a cluster is: which primary, and that primary's cursor.
#[derive(Debug, Default)]
struct ClusterScan {
    nodes: Vec<(String, u16)>,
    at: usize,
    cursor: u64,
}

fn poisoned() -> StoreError {
    StoreError::Redis("the cluster scan's state is poisoned".into())
}
