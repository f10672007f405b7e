//! The task store: the only module that speaks to Redis.
//!
//! Every state change is one Lua script (`scripts/`), run by one typed op (`ops/`) in one round
//! trip, with the keys of the roles the script declares and the queue's policy in ARGV. The
//! connection type stays behind `Store`; callers see domain types and outcomes, never Redis
//! values or key names.
//!
//! - `conn`: the shared multiplexed connections and what Redis errors mean.
//! - `keys`: key names. `script`: the scripts and their key roles. `ops`: one op per script.
//! - `record`: task records in replies → API types. `registry`: which queues exist.
//! - `types`: what the store takes and gives back.

mod conn;
mod keys;
mod ops;
mod outage;
mod record;
mod registry;
mod script;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use deadpool_redis::redis;
use serde_json::value::RawValue;

use crate::model::{ERROR_MESSAGE_MAX, QueueName, QueuePolicy, Task, TaskId};
pub use conn::PoolSettings;
use conn::{Conn, Connections};
use keys::KeySpace;
use ops::{Args, Op, Reply};
use outage::OutageLog;
pub use outage::{Cause, Unavailable};
pub use types::{
    Failure, FinishOutcome, GetOutcome, HeartbeatOutcome, LeaseOutcome, LeaseRequest, NewTask,
    ReapReport, Start,
};

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis is unreachable, slow, loading, busy, out of memory or read-only: retry later.
    #[error("{0}")]
    Unavailable(Unavailable),
    /// Redis answered with an error we do not expect.
    #[error("redis error: {0}")]
    Redis(String),
    /// Redis answered, but not in the shape the scripts promise.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Names the script an unexpected error came from, for the log.
    fn in_script(self, script: &str) -> Self {
        match self {
            Self::Redis(why) => Self::Redis(format!("{script}.lua: {why}")),
            other => other,
        }
    }
}

/// Handle to the task store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conns: Connections,
    keys: KeySpace,
    /// ARGV 1..8 of every script (see `scripts/prelude/base.lua`).
    policy_args: Vec<String>,
    /// When this process last wrote each queue it submitted to into the registry.
    registered: Mutex<HashMap<QueueName, Instant>>,
    outages: OutageLog,
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
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                conns: Connections::new(settings)?,
                keys: KeySpace::new(key_prefix),
                policy_args,
                registered: Mutex::new(HashMap::new()),
                outages: OutageLog::new(crate::redacted(&settings.url)),
            }),
        })
    }

    /// Adds a task.
    pub async fn submit(&self, queue: &QueueName, task: NewTask) -> Result<Task, StoreError> {
        let id = TaskId::new_v7();
        let task = self.run(queue, ops::Submit { id, task }).await?;
        self.note_queue(queue);
        Ok(task)
    }

    /// Reads a task, settling what the Redis clock says is already due.
    pub async fn get(&self, queue: &QueueName, id: TaskId) -> Result<GetOutcome, StoreError> {
        self.run(queue, ops::Get { id }).await
    }

    /// Leases up to `max_tasks` ready tasks. An empty list means nothing is ready.
    pub async fn lease(
        &self,
        queue: &QueueName,
        request: &LeaseRequest,
    ) -> Result<LeaseOutcome, StoreError> {
        self.run(queue, ops::Lease { request }).await
    }

    /// Extends a live lease.
    pub async fn heartbeat(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        lease_ms: Option<u64>,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let op = ops::Heartbeat {
            id,
            lease_id,
            lease_ms,
        };
        self.run(queue, op).await
    }

    /// Completes a leased task with an optional result (JSON text, stored as given).
    pub async fn ack(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        result: Option<&RawValue>,
    ) -> Result<FinishOutcome, StoreError> {
        let op = ops::Ack {
            id,
            lease_id,
            result,
        };
        self.run(queue, op).await
    }

    /// Records a failed attempt: retried after backoff, or dead. The error text is cut to
    /// `ERROR_MESSAGE_MAX` bytes.
    pub async fn fail(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        mut failure: Failure,
    ) -> Result<FinishOutcome, StoreError> {
        failure.error = truncate_utf8(failure.error, ERROR_MESSAGE_MAX);
        let op = ops::Fail {
            id,
            lease_id,
            failure: &failure,
        };
        self.run(queue, op).await
    }

    /// One bounded sweep of a queue: expired leases, due tasks, expired terminal tasks. A queue
    /// that turns out to be gone (nothing left in it) leaves the registry.
    pub async fn reap(&self, queue: &QueueName) -> Result<ReapReport, StoreError> {
        let report = self.run(queue, ops::Reap).await?;
        if report.gone {
            self.unregister(queue).await?;
        }
        Ok(report)
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

    /// Runs one op, then moves aside any record its reply carried that could not be read.
    async fn run<O: Op>(&self, queue: &QueueName, op: O) -> Result<O::Outcome, StoreError> {
        let (outcome, unreadable) = self.call(queue, op).await?;
        if !unreadable.is_empty() {
            let (_, _) = self
                .call(
                    queue,
                    ops::Quarantine {
                        records: &unreadable,
                    },
                )
                .await?;
        }
        Ok(outcome)
    }

    /// Calls one op's script with the keys of its roles, the policy block and its arguments.
    async fn call<O: Op>(
        &self,
        queue: &QueueName,
        op: O,
    ) -> Result<(O::Outcome, Vec<(String, String)>), StoreError> {
        let def = op.script();
        let mut invocation = def.script().prepare_invoke();
        for role in def.roles {
            invocation.key(self.inner.keys.queue_key(queue, role));
        }
        for value in &self.inner.policy_args {
            invocation.arg(value);
        }
        invocation.arg(rand::random::<u32>());
        op.args(&mut Args(&mut invocation));
        let value = match self.conn().await {
            Ok(mut conn) => conn.invoke(&invocation).await,
            Err(err) => Err(err),
        };
        let value = self.observe(value).map_err(|err| err.in_script(def.name))?;
        let mut reply = Reply::parse(queue, value)?;
        let outcome = op.outcome(&mut reply);
        if !reply.quarantined.is_empty() || !reply.unreadable.is_empty() {
            tracing::warn!(
                queue = %queue,
                moved_by_script = ?reply.quarantined,
                unreadable = ?reply.unreadable,
                "task records could not be read and were moved to the queue's quarantine"
            );
        }
        Ok((outcome?, reply.unreadable))
    }

    /// Sends one plain command.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let result = match self.conn().await {
            Ok(mut conn) => conn.query(cmd).await,
            Err(err) => Err(err),
        };
        self.observe(result)
    }

    /// Feeds every call's outcome to the outage log.
    fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.inner.outages.succeeded(),
            Err(StoreError::Unavailable(why)) => self.inner.outages.failed(why),
            Err(_) => {}
        }
        result
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.inner.conns.get().await
    }
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
