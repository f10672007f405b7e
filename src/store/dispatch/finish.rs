//! Reading how an ack or a fail ended, the part of their replies they share.

use deadpool_redis::redis::Value;

use super::types::FinishOutcome;
use crate::store::StoreError;
use crate::store::op::{Reply, corrupt, into_int};

/// The answer of a single ack or fail: the reply's status and the value after it.
pub fn outcome(reply: &mut Reply<'_>) -> Result<FinishOutcome, StoreError> {
    let status = reply.status.clone();
    let value = reply.next_or_nil();
    item(reply, &status, value)
}

/// One ack's or fail's answer: its status word and the value that came with it.
pub fn item(
    reply: &mut Reply<'_>,
    status: &str,
    value: Value,
) -> Result<FinishOutcome, StoreError> {
    let mut task = |value| -> Result<crate::model::Task, StoreError> {
        reply
            .record(value)?
            .map(|record| record.task)
            .ok_or_else(|| corrupt("the task's stored record is unreadable"))
    };
    Ok(match status {
        "ok" => FinishOutcome::Done(task(value)?),
        "replayed" => FinishOutcome::Replayed(task(value)?),
        "lease_lost" => FinishOutcome::LeaseLost,
        "not_found" => FinishOutcome::NotFound,
        "too_large" => FinishOutcome::TooLarge {
            limit: u64::try_from(into_int(value)?).unwrap_or(0),
        },
        other => return Err(corrupt(format!("unexpected script status {other:?}"))),
    })
}
