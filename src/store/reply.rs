//! Turns script replies into domain types. Scripts answer `{ status, now, ... }` where a task is
//! `{ id, meta JSON, payload, result?, errors? }` (see `scripts/prelude.lua`, `task_reply`).

use deadpool_redis::redis::Value;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::StoreError;
use crate::model::{AttemptFailure, QueueName, Task, TaskError, TaskState, rfc3339_ms};

/// A script's answer: its status word, the Redis time it ran at, and the rest.
pub struct Reply {
    pub status: String,
    pub now_ms: i64,
    pub rest: Vec<Value>,
}

impl Reply {
    pub fn parse(value: Value) -> Result<Self, StoreError> {
        let mut items = into_array(value)?.into_iter();
        let status = items.next().map(into_string).transpose()?;
        let now_ms = items.next().map(into_int).transpose()?;
        match (status, now_ms) {
            (Some(status), Some(now_ms)) => Ok(Self {
                status,
                now_ms,
                rest: items.collect(),
            }),
            _ => Err(corrupt("script reply lacks status or time")),
        }
    }

    /// The reply's next value, which must be there.
    pub fn next(&mut self) -> Result<Value, StoreError> {
        if self.rest.is_empty() {
            return Err(corrupt("script reply is shorter than expected"));
        }
        Ok(self.rest.remove(0))
    }
}

/// The metadata a script keeps per task (`meta` hash). Fields the API never shows are skipped.
#[derive(Debug, Deserialize)]
pub struct TaskMeta {
    pub state: TaskState,
    pub priority: i32,
    pub attempts: u32,
    pub max_attempts: u32,
    pub attempts_expired: u32,
    pub attempts_failed: u32,
    pub created_at: i64,
    pub run_at: i64,
    pub leased_until: Option<i64>,
    pub finished_at: Option<i64>,
    pub worker: Option<String>,
    pub lease_id: Option<String>,
}

/// One entry of a task's stored error history.
#[derive(Debug, Deserialize)]
struct StoredError {
    attempt: u32,
    at: i64,
    kind: AttemptFailure,
    message: String,
}

/// A task as a script returned it, with the metadata it was built from.
pub struct TaskRecord {
    pub task: Task,
    pub meta: TaskMeta,
}

impl TaskRecord {
    pub fn parse(queue: &QueueName, value: Value) -> Result<Self, StoreError> {
        let mut parts = into_array(value)?.into_iter();
        let mut next = || parts.next().unwrap_or(Value::Nil);
        let id = into_string(next())?;
        let meta: TaskMeta = from_json(&into_string(next())?)?;
        let payload = RawValue::from_string(into_string(next())?).map_err(corrupt)?;
        let result = optional_string(next())?
            .map(RawValue::from_string)
            .transpose()
            .map_err(corrupt)?;
        let errors: Vec<StoredError> = match optional_string(next())? {
            Some(text) => from_json(&text)?,
            None => Vec::new(),
        };
        let errors: Vec<TaskError> = errors
            .into_iter()
            .map(|e| TaskError {
                attempt: e.attempt,
                at: rfc3339_ms(e.at),
                kind: e.kind,
                message: e.message,
            })
            .collect();
        let task = Task {
            id,
            queue: queue.to_string(),
            state: meta.state,
            payload,
            priority: meta.priority,
            attempts: meta.attempts,
            max_attempts: meta.max_attempts,
            attempts_expired: meta.attempts_expired,
            attempts_failed: meta.attempts_failed,
            created_at: rfc3339_ms(meta.created_at),
            run_at: rfc3339_ms(meta.run_at),
            leased_until: meta.leased_until.map(rfc3339_ms),
            finished_at: meta.finished_at.map(rfc3339_ms),
            worker: meta.worker.clone(),
            result,
            last_error: errors.last().map(|e| e.message.clone()),
            errors,
        };
        Ok(Self { task, meta })
    }
}

pub fn into_array(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(corrupt(format!("expected an array, got {other:?}"))),
    }
}

pub fn into_int(value: Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(n),
        other => Err(corrupt(format!("expected an integer, got {other:?}"))),
    }
}

fn into_string(value: Value) -> Result<String, StoreError> {
    optional_string(value)?.ok_or_else(|| corrupt("expected a string, got nil"))
}

fn optional_string(value: Value) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes).map(Some).map_err(corrupt),
        Value::SimpleString(text) => Ok(Some(text)),
        other => Err(corrupt(format!("expected a string, got {other:?}"))),
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn corrupt(why: impl ToString) -> StoreError {
    StoreError::Corrupt(why.to_string())
}
