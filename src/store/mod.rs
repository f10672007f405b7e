//! The task store: the only module that speaks to Redis.
//!
//! Every state change is one Lua script from `scripts/`, called once (one round trip) with all
//! of the queue's keys in KEYS and the queue's policy in ARGV. The connection type stays behind
//! `Store`; callers see domain types and outcomes, never Redis values or key names.

mod keys;
mod pool;
mod reply;
mod scripts;
mod types;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use deadpool::managed::{Object, PoolError};
use deadpool_redis::redis::{self, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::model::{
    ERROR_HISTORY_MAX, ERROR_MESSAGE_MAX, Lease, QueueName, QueuePolicy, Task, TaskId, rfc3339_ms,
};
use keys::KeySpace;
pub use pool::PoolSettings;
use reply::{Reply, TaskRecord, into_int};
use scripts::Scripts;
pub use types::{
    Failure, FinishOutcome, HeartbeatOutcome, LeaseRequest, NewTask, ReapReport, Start,
};

/// Most items one reaper sweep handles per kind (expired leases, due tasks, purges), so a
/// sweep never blocks Redis for long; a full sweep is repeated at once.
const REAP_BATCH: u32 = 1000;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable, slow, loading, out of memory or read-only: retry later.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error we do not expect.
    #[error("redis error: {0}")]
    Redis(String),
    /// Redis answered, but not in the shape the scripts promise.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Handle to the task store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: pool::Pool,
    keys: KeySpace,
    scripts: Scripts,
    /// ARGV 1..9 of every script (see `scripts/prelude.lua`).
    policy_args: Vec<String>,
    /// Queues this process has already written to the queue registry.
    registered: RwLock<HashSet<QueueName>>,
}

impl Store {
    /// Builds the store. Connects lazily, so this succeeds while Redis is down.
    pub fn new(
        settings: &PoolSettings,
        key_prefix: &str,
        policy: &QueuePolicy,
    ) -> Result<Self, String> {
        let b = &policy.backoff;
        let policy_args = vec![
            policy.lease_ms.to_string(),
            policy.max_attempts.to_string(),
            b.initial_ms.to_string(),
            b.multiplier.to_string(),
            b.max_ms.to_string(),
            b.jitter.to_string(),
            policy.completed_ttl_ms.to_string(),
            policy.dead_ttl_ms.to_string(),
            ERROR_HISTORY_MAX.to_string(),
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                pool: pool::build(settings)?,
                keys: KeySpace::new(key_prefix),
                scripts: Scripts::load(),
                policy_args,
                registered: RwLock::new(HashSet::new()),
            }),
        })
    }

    /// Adds a task. One script call; the first submit to a queue from this process also records
    /// the queue's name for the reaper.
    pub async fn submit(&self, queue: &QueueName, task: NewTask) -> Result<Task, StoreError> {
        self.register(queue).await?;
        let id = TaskId::new_v7().to_string();
        let (delay, run_at) = match task.start {
            Start::Now => (String::new(), String::new()),
            Start::AfterMs(ms) => (ms.to_string(), String::new()),
            Start::AtMs(ms) => (String::new(), ms.to_string()),
        };
        let args = vec![
            id,
            task.payload,
            task.priority.to_string(),
            delay,
            run_at,
            opt(task.max_attempts),
            opt(task.lease_ms),
        ];
        let mut reply = self.run(&self.inner.scripts.submit, queue, args).await?;
        match reply.status.as_str() {
            "created" => Ok(TaskRecord::parse(queue, reply.next()?)?.task),
            // A UUIDv7 collision: never expected, but never allowed to overwrite a task.
            "exists" => Err(StoreError::Redis("new task id already taken".into())),
            other => Err(unexpected(other)),
        }
    }

    /// Reads a task.
    pub async fn get(&self, queue: &QueueName, id: TaskId) -> Result<Option<Task>, StoreError> {
        let mut reply = self
            .run(&self.inner.scripts.get, queue, vec![id.to_string()])
            .await?;
        match reply.status.as_str() {
            "ok" => Ok(Some(TaskRecord::parse(queue, reply.next()?)?.task)),
            "not_found" => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Leases up to `max_tasks` ready tasks. An empty list means nothing is ready.
    pub async fn lease(
        &self,
        queue: &QueueName,
        request: LeaseRequest,
    ) -> Result<Vec<Lease>, StoreError> {
        let mut args = vec![
            request.worker.unwrap_or_default(),
            opt(request.lease_ms),
            request.max_tasks.to_string(),
        ];
        // Lease ids are made here, not in Lua: Redis's script PRNG is not meant to be
        // unguessable, and a lease id is a fencing token.
        args.extend((0..request.max_tasks).map(|_| uuid::Uuid::new_v4().simple().to_string()));
        let mut reply = self.run(&self.inner.scripts.lease, queue, args).await?;
        if reply.status != "ok" {
            return Err(unexpected(&reply.status));
        }
        let now_ms = reply.now_ms;
        reply::into_array(reply.next()?)?
            .into_iter()
            .map(|value| {
                let TaskRecord { task, meta } = TaskRecord::parse(queue, value)?;
                match (meta.lease_id, meta.leased_until) {
                    (Some(lease_id), Some(until)) => Ok(Lease {
                        lease_id,
                        expires_at: rfc3339_ms(until),
                        expires_in_ms: remaining_ms(until, now_ms),
                        attempt: meta.attempts,
                        task,
                    }),
                    _ => Err(StoreError::Corrupt("leased task without a lease".into())),
                }
            })
            .collect()
    }

    /// Extends a live lease.
    pub async fn heartbeat(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        lease_ms: Option<u64>,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let args = vec![id.to_string(), lease_id.to_owned(), opt(lease_ms)];
        let mut reply = self.run(&self.inner.scripts.heartbeat, queue, args).await?;
        match reply.status.as_str() {
            "ok" => {
                let until = into_int(reply.next()?)?;
                Ok(HeartbeatOutcome::Extended {
                    expires_at: rfc3339_ms(until),
                    expires_in_ms: remaining_ms(until, reply.now_ms),
                })
            }
            "lease_lost" => Ok(HeartbeatOutcome::LeaseLost),
            "not_found" => Ok(HeartbeatOutcome::NotFound),
            other => Err(unexpected(other)),
        }
    }

    /// Completes a leased task with an optional result (compact JSON text).
    pub async fn ack(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        result: Option<String>,
    ) -> Result<FinishOutcome, StoreError> {
        let args = vec![
            id.to_string(),
            lease_id.to_owned(),
            result.unwrap_or_default(),
        ];
        self.finish(&self.inner.scripts.ack, queue, args).await
    }

    /// Records a failed attempt: retried after backoff, or dead.
    pub async fn fail(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        failure: Failure,
    ) -> Result<FinishOutcome, StoreError> {
        let args = vec![
            id.to_string(),
            lease_id.to_owned(),
            truncate_utf8(failure.error, ERROR_MESSAGE_MAX),
            if failure.retry { "1" } else { "0" }.to_owned(),
            opt(failure.retry_in_ms),
        ];
        self.finish(&self.inner.scripts.fail, queue, args).await
    }

    async fn finish(
        &self,
        script: &redis::Script,
        queue: &QueueName,
        args: Vec<String>,
    ) -> Result<FinishOutcome, StoreError> {
        let mut reply = self.run(script, queue, args).await?;
        match reply.status.as_str() {
            "ok" => Ok(FinishOutcome::Done(
                TaskRecord::parse(queue, reply.next()?)?.task,
            )),
            "replayed" => Ok(FinishOutcome::Replayed(
                TaskRecord::parse(queue, reply.next()?)?.task,
            )),
            "lease_lost" => Ok(FinishOutcome::LeaseLost),
            "not_found" => Ok(FinishOutcome::NotFound),
            other => Err(unexpected(other)),
        }
    }

    /// One bounded sweep of a queue: expired leases, due tasks, expired terminal tasks.
    pub async fn reap(&self, queue: &QueueName) -> Result<ReapReport, StoreError> {
        let mut reply = self
            .run(
                &self.inner.scripts.reap,
                queue,
                vec![REAP_BATCH.to_string()],
            )
            .await?;
        Ok(ReapReport {
            reclaimed: into_int(reply.next()?)?,
            promoted: into_int(reply.next()?)?,
            purged: into_int(reply.next()?)?,
            more: into_int(reply.next()?)? == 1,
        })
    }

    /// Every queue that has ever had a task submitted.
    pub async fn queues(&self) -> Result<Vec<QueueName>, StoreError> {
        let registry = self.inner.keys.queue_registry();
        let names: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(registry)).await?;
        // A name that fails the check cannot come from taskgate; skip it rather than stop.
        Ok(names
            .iter()
            .filter_map(|n| QueueName::parse(n).ok())
            .collect())
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Redis's `maxmemory-policy`, when the server lets us read it.
    pub async fn maxmemory_policy(&self) -> Result<String, StoreError> {
        let pair: Vec<String> = self
            .query(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
            .await?;
        pair.into_iter()
            .nth(1)
            .ok_or_else(|| StoreError::Corrupt("CONFIG GET returned nothing".into()))
    }

    /// Records the queue's name once per process. Its own command, before the submit script,
    /// so the reaper can always find a queue that holds tasks.
    async fn register(&self, queue: &QueueName) -> Result<(), StoreError> {
        let known = self
            .inner
            .registered
            .read()
            .is_ok_and(|set| set.contains(queue));
        if known {
            return Ok(());
        }
        let registry = self.inner.keys.queue_registry();
        let _: i64 = self
            .query(redis::cmd("SADD").arg(registry).arg(queue.as_str()))
            .await?;
        if let Ok(mut set) = self.inner.registered.write() {
            set.insert(queue.clone());
        }
        Ok(())
    }

    /// Calls one script with the queue's keys, the policy block and `args`.
    async fn run(
        &self,
        script: &redis::Script,
        queue: &QueueName,
        args: Vec<String>,
    ) -> Result<Reply, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in self.inner.keys.queue_keys(queue) {
            invocation.key(key);
        }
        for value in &self.inner.policy_args {
            invocation.arg(value);
        }
        invocation.arg(rand::random::<u32>()).arg("");
        for value in args {
            invocation.arg(value);
        }
        let mut conn = self.connection().await?;
        let result: Result<Value, RedisError> = invocation.invoke_async(&mut *conn).await;
        Reply::parse(check(conn, result)?)
    }

    /// Sends one plain command.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        let result = cmd.query_async(&mut *conn).await;
        check(conn, result)
    }

    async fn connection(&self) -> Result<pool::PooledConnection, StoreError> {
        self.inner.pool.get().await.map_err(|e| match e {
            PoolError::Backend(err) => classify(&err),
            other => StoreError::Unavailable(other.to_string()),
        })
    }
}

/// Maps a command's error, dropping the connection from the pool when it is no longer
/// trustworthy (I/O error, dropped connection or timeout: a late reply could otherwise be read
/// as the answer to the next command).
fn check<T>(conn: pool::PooledConnection, result: Result<T, RedisError>) -> Result<T, StoreError> {
    result.map_err(|err| {
        if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
            drop(Object::take(conn));
        }
        classify(&err)
    })
}

fn classify(err: &RedisError) -> StoreError {
    let transient = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.code() == Some("OOM")
        || matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        );
    if transient {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Redis(err.to_string())
    }
}

fn unexpected(status: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected script status {status:?}"))
}

/// An optional number as a script argument: empty means "not given".
fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn remaining_ms(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0)
}

/// Cuts `text` to at most `max` bytes without splitting a character.
fn truncate_utf8(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_utf8("héllo".into(), 2), "h");
        assert_eq!(truncate_utf8("héllo".into(), 3), "hé");
        assert_eq!(truncate_utf8("short".into(), 10), "short");
    }
}
