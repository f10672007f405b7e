//! The op: one typed operation per script. Each op owns its script's ARGV order and the only
//! `match` on the script's status words, so service methods stay short and no argument list is
//! built in more than one place. `dispatch/ack.rs` <-> `dispatch/ack.lua`, and so on. This file
//! is the trait and the reading of replies that every op shares.

use deadpool_redis::redis::{ToRedisArgs, Value};

use super::StoreError;
use super::record::{RecordParts, StoredDependency, TaskRecord};
use super::script::ScriptDef;
use crate::model::{QueueName, StateCounts};

/// An atomic operation: one script call with its arguments and the reading of its reply.
pub trait Op {
    type Outcome;
    /// The script to run (an op may pick between flag variants of one script).
    fn script(&self) -> &'static ScriptDef;
    /// The script's own arguments (after the policy block every script receives).
    fn args(&self, args: &mut Args<'_>);
    /// Reads the reply. Records that cannot be used are left in `reply.unreadable`.
    fn outcome(self, reply: &mut Reply<'_>) -> Result<Self::Outcome, StoreError>;
    /// `Some(items)` when concurrent calls of this op on one queue may travel together in one
    /// script call (`store/lanes.rs`), `items` being the work it adds to that script call
    /// (tasks submitted, leased or acked), which the batch bounds. `None`: it always goes alone.
    fn batch_weight(&self) -> Option<usize> {
        None
    }
}

/// The arguments of one call (after the policy block and the seed that every script gets).
pub struct Args<'a>(pub &'a mut Vec<Vec<u8>>);

impl Args<'_> {
    pub fn push(&mut self, value: impl ToRedisArgs) -> &mut Self {
        value.write_redis_args(self.0);
        self
    }

    /// An optional value; the script reads `''` as "not given".
    pub fn opt(&mut self, value: Option<impl ToRedisArgs>) -> &mut Self {
        match value {
            Some(value) => self.push(value),
            None => self.push(""),
        }
    }

    pub fn flag(&mut self, value: bool) -> &mut Self {
        self.push(if value { "1" } else { "0" })
    }
}

/// A script's answer: `{ status, now, quarantined, unstarted, ... }`.
pub struct Reply<'q> {
    pub queue: &'q QueueName,
    pub status: String,
    /// The Redis time the script ran at (ms since the epoch).
    pub now_ms: i64,
    /// Records the script moved aside as unreadable ("<id>: <why>"), for the log.
    pub quarantined: Vec<String>,
    /// Tasks the call ended at their start deadline (for the metrics).
    pub unstarted: u64,
    /// Records this reply carried that the server could not use: (id, why).
    pub unreadable: Vec<(String, String)>,
    rest: std::vec::IntoIter<Value>,
}

impl<'q> Reply<'q> {
    pub fn parse(queue: &'q QueueName, value: Value) -> Result<Self, StoreError> {
        let mut items = into_array(value)?.into_iter();
        let mut next = || items.next().unwrap_or(Value::Nil);
        let status = into_string(next())?;
        if status == "!error" {
            // The call raised an error in Lua (`prelude/calls.lua`); the others did not.
            return Err(StoreError::Redis(into_string(next())?));
        }
        let now_ms = into_int(next())?;
        let quarantined = into_array(next())?
            .into_iter()
            .map(into_string)
            .collect::<Result<_, _>>()?;
        let unstarted = u64::try_from(into_int(next())?).unwrap_or(0);
        Ok(Self {
            queue,
            status,
            now_ms,
            quarantined,
            unstarted,
            unreadable: Vec::new(),
            rest: items.collect::<Vec<_>>().into_iter(),
        })
    }

    /// The reply's next value, which must be there.
    pub fn next(&mut self) -> Result<Value, StoreError> {
        self.rest
            .next()
            .ok_or_else(|| corrupt("script reply is shorter than expected"))
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        into_int(self.next()?)
    }

    pub fn u64(&mut self) -> Result<u64, StoreError> {
        let n = self.int()?;
        u64::try_from(n).map_err(|_| corrupt(format!("expected a count, got {n}")))
    }

    pub fn u32(&mut self) -> Result<u32, StoreError> {
        let n = self.int()?;
        u32::try_from(n).map_err(|_| corrupt(format!("expected a small count, got {n}")))
    }

    pub fn string(&mut self) -> Result<String, StoreError> {
        into_string(self.next()?)
    }

    /// The next value, an array of counts.
    pub fn u64s(&mut self) -> Result<Vec<u64>, StoreError> {
        into_array(self.next()?)?
            .into_iter()
            .map(|n| into_int(n).map(|n| u64::try_from(n).unwrap_or(0)))
            .collect()
    }

    /// The next value, the queue's groups with ready tasks and the held ones (`group_tally`).
    pub fn group_tally(&mut self) -> Result<crate::model::GroupTally, StoreError> {
        match self.u64s()?.as_slice() {
            &[ready, held] => Ok(crate::model::GroupTally { ready, held }),
            _ => Err(corrupt("a group tally is two counts")),
        }
    }

    /// The next value, the queue's tasks per state (`state_counts` in `prelude/base.lua`).
    pub fn counts(&mut self) -> Result<StateCounts, StoreError> {
        let Some(
            &[
                ready,
                scheduled,
                leased,
                completed,
                dead,
                cancelled,
                quarantined,
                waiting,
            ],
        ) = self.u64s()?.get(..8)
        else {
            return Err(corrupt("short list of state counts"));
        };
        Ok(StateCounts {
            waiting,
            scheduled,
            ready,
            leased,
            completed,
            dead,
            cancelled,
            quarantined,
        })
    }

    /// The next value, a task; `None` when its record cannot be used (noted in `unreadable`).
    pub fn task(&mut self) -> Result<Option<TaskRecord>, StoreError> {
        let value = self.next()?;
        self.record(value)
    }

    /// The next value, a list of tasks, leaving out those that cannot be used.
    pub fn tasks(&mut self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut records = Vec::new();
        for value in into_array(self.next()?)? {
            records.extend(self.record(value)?);
        }
        Ok(records)
    }

    /// One task value of the reply; `None` when its record cannot be used (noted).
    pub fn record(&mut self, value: Value) -> Result<Option<TaskRecord>, StoreError> {
        let mut parts = into_array(value)?.into_iter();
        let mut next = || parts.next().unwrap_or(Value::Nil);
        let parts = RecordParts {
            id: into_string(next())?,
            meta: into_string(next())?,
            payload: optional_string(next())?,
            result: optional_string(next())?,
            history: history(next())?,
            policy_max_attempts: u32::try_from(into_int(next())?).unwrap_or(u32::MAX),
            progress: optional_string(next())?,
            dependencies: dependencies(next())?,
        };
        let id = parts.id.clone();
        match TaskRecord::build(self.queue, parts) {
            Ok(record) => Ok(Some(record)),
            Err(why) => {
                self.unreadable.push((id, why));
                Ok(None)
            }
        }
    }

    /// The next value, a task that must be readable: the call it answers has been applied, so
    /// an unreadable record (quarantined afterwards) is an error, never a different answer.
    pub fn readable_task(&mut self) -> Result<crate::model::Task, StoreError> {
        self.task()?
            .map(|record| record.task)
            .ok_or_else(|| corrupt("the task's stored record is unreadable"))
    }

    /// An error for a status word this op's script never answers.
    pub fn unexpected(&self) -> StoreError {
        corrupt(format!("unexpected script status {:?}", self.status))
    }

    /// The reply's next value, or nil when it has no more.
    pub fn next_or_nil(&mut self) -> Value {
        self.rest.next().unwrap_or(Value::Nil)
    }
}

/// Whether a call's reply has this status word (read before the reply is parsed).
pub fn is_status(value: &Value, status: &str) -> bool {
    match value {
        Value::Array(items) => {
            matches!(items.first(), Some(Value::BulkString(word)) if word == status.as_bytes())
        }
        _ => false,
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

pub fn into_string(value: Value) -> Result<String, StoreError> {
    optional_string(value)?.ok_or_else(|| corrupt("expected a string, got nil"))
}

pub fn optional_string(value: Value) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes).map(Some).map_err(corrupt),
        Value::SimpleString(text) => Ok(Some(text)),
        other => Err(corrupt(format!("expected a string, got {other:?}"))),
    }
}

pub fn optional_int(value: Value) -> Result<Option<i64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => into_int(other).map(Some),
    }
}

/// A task's error history in a reply: its entries (missing ones are nil), or the whole history
/// as one text as written before record version 1, or nil.
fn history(value: Value) -> Result<Vec<String>, StoreError> {
    match value {
        Value::Array(entries) => Ok(entries
            .into_iter()
            .map(optional_string)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect()),
        other => Ok(optional_string(other)?.into_iter().collect()),
    }
}

/// A task's dependencies in a reply (`prelude/record.lua`, `dependencies`): a flat list of
/// queue, id and outcome (nil while pending) per parent, or nil for a task without any.
fn dependencies(value: Value) -> Result<Option<Vec<StoredDependency>>, StoreError> {
    let Value::Array(items) = value else {
        return Ok(None);
    };
    let mut items = items.into_iter();
    let mut parents = Vec::new();
    while let Some(queue) = items.next() {
        let id = items.next().unwrap_or(Value::Nil);
        let outcome = items.next().unwrap_or(Value::Nil);
        parents.push((
            into_string(queue)?,
            into_string(id)?,
            optional_string(outcome)?,
        ));
    }
    Ok(Some(parents))
}

pub fn corrupt(why: impl ToString) -> StoreError {
    StoreError::Corrupt(why.to_string())
}

/// Milliseconds from `now_ms` until `until_ms`, never negative.
pub fn remaining_ms(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0)
}
