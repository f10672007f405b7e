//! The dispatch service, for workers: lease (from one queue or several), heartbeat, ack (one or
//! a batch) and fail. One op per script: `lease.rs`, `heartbeat.rs`, `ack.rs` (`ack.lua`,
//! `ack_batch.lua`), `fail.rs`. How a multi-queue lease orders its queues is `order/`, one
//! file per way.

mod ack;
mod fail;
mod finish;
mod heartbeat;
mod lease;
mod order;
mod types;

pub use types::*;
pub(crate) use {
    ack::{ACK, ACK_BATCH, ACK_BATCH_WITH_RESULTS, ACK_WITH_RESULT},
    fail::{FAIL, FAIL_WITH_LONG_ERROR},
    heartbeat::{HEARTBEAT, HEARTBEAT_WITH_PROGRESS},
    lease::LEASE,
};

use std::sync::Arc;

use serde_json::value::RawValue;

use super::deps::Dependencies;
use super::outage::Cause;
use super::{BATCH_ITEMS_MAX, Engine, Replication, StoreError};
use crate::metrics;
use crate::model::{ERROR_MESSAGE_MAX, QueueName, TaskId, TaskState};
use order::QueueOrder;

/// Leasing and what workers do with leases. Cheap to clone.
#[derive(Clone)]
pub struct Dispatch {
    engine: Engine,
    weighted: Arc<order::Weighted>,
    /// Finished tasks' outcomes go to the tasks that wait for them.
    deps: Dependencies,
}

impl Dispatch {
    pub(super) fn new(engine: Engine, deps: Dependencies) -> Self {
        Self {
            engine,
            weighted: Arc::default(),
            deps,
        }
    }

    /// The way `strategy` orders the queues of a multi-queue lease: the one place a strategy
    /// is registered.
    fn order(&self, strategy: Strategy) -> &dyn QueueOrder {
        match strategy {
            Strategy::Strict => &order::Strict,
            Strategy::Weighted => self.weighted.as_ref(),
        }
    }

    /// Leases up to `max_tasks` ready tasks, within the queue's limits. An empty list means
    /// nothing is ready, the queue is paused, or a limit allows nothing now.
    pub async fn lease(
        &self,
        queue: &QueueName,
        request: &LeaseRequest,
    ) -> Result<LeaseOutcome, StoreError> {
        let outcome = self.engine.run(queue, lease::Lease { request }).await?;
        if !outcome.replayed {
            metrics::transition(queue.as_str(), "leased", outcome.leases.len() as u64);
        }
        Ok(outcome)
    }

    /// Leases up to `max_tasks` from several queues, one script per queue (so each runs in
    /// its queue's Cluster slot), trying them in the order `strategy` gives (see `order/`).
    /// Paused and limited queues are skipped. With a `request_id`, a repeat of the call returns
    /// the leases it granted (from whichever queues) and leases nothing new.
    pub async fn lease_across(
        &self,
        queues: &[QueueName],
        strategy: Strategy,
        request: &LeaseRequest,
    ) -> Result<LeaseOutcome, StoreError> {
        if request.request_id.is_some() {
            let probe = LeaseRequest {
                max_tasks: 0,
                ..request.clone()
            };
            let earlier =
                futures_util::future::try_join_all(queues.iter().map(|q| self.lease(q, &probe)))
                    .await?;
            if earlier.iter().any(|outcome| outcome.replayed) {
                return Ok(LeaseOutcome {
                    leases: earlier.into_iter().flat_map(|o| o.leases).collect(),
                    replayed: true,
                    ..LeaseOutcome::default()
                });
            }
        }
        let order = self.order(strategy);
        let mut candidates = order.candidates(&self.engine, queues).await?;
        let mut total = LeaseOutcome::default();
        while total.leases.len() < request.max_tasks as usize && !candidates.is_empty() {
            let at = order.pick(queues, &candidates);
            let (queue, _) = candidates.remove(at);
            let wanted = request.max_tasks - total.leases.len() as u32;
            let outcome = self
                .lease(
                    &queue,
                    &LeaseRequest {
                        max_tasks: wanted,
                        ..request.clone()
                    },
                )
                .await?;
            if let Some(ms) = outcome.retry_after_ms {
                total.retry_after_ms = Some(total.retry_after_ms.map_or(ms, |t| t.min(ms)));
            }
            total.unmatched |= outcome.unmatched;
            total.leases.extend(outcome.leases);
        }
        if !total.leases.is_empty() {
            total.retry_after_ms = None;
        }
        Ok(total)
    }

    /// Extends a live lease, keeping `progress` if given. While Redis is full the report cannot
    /// be stored (it adds data), but the lease must still be extended or the work would be
    /// lost: the heartbeat goes again without it, and says the report was dropped.
    pub async fn heartbeat(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        lease_ms: Option<u64>,
        progress: Option<&RawValue>,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let op = |progress| heartbeat::Heartbeat {
            id,
            lease_id,
            lease_ms,
            progress,
        };
        match self
            .engine
            .run(queue, op(progress.map(RawValue::get)))
            .await
        {
            Err(StoreError::Unavailable(why)) if progress.is_some() && why.cause == Cause::Full => {
                let outcome = self.engine.run(queue, op(None)).await?;
                Ok(match outcome {
                    HeartbeatOutcome::Extended {
                        expires_at,
                        expires_in_ms,
                        ..
                    } => HeartbeatOutcome::Extended {
                        expires_at,
                        expires_in_ms,
                        progress_dropped: true,
                    },
                    other => other,
                })
            }
            outcome => outcome,
        }
    }

    /// Completes a leased task with an optional result (JSON text, stored as given).
    pub async fn ack(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        result: Option<&RawValue>,
    ) -> Result<FinishOutcome, StoreError> {
        Ok(self
            .ack_replicated(queue, id, lease_id, result, None)
            .await?
            .0)
    }

    /// As `ack`; with `replication`, then waits for that many replicas to have it. Returns how
    /// many confirmed.
    pub async fn ack_replicated(
        &self,
        queue: &QueueName,
        id: TaskId,
        lease_id: &str,
        result: Option<&RawValue>,
        replication: Option<Replication>,
    ) -> Result<(FinishOutcome, u32), StoreError> {
        let op = ack::Ack {
            id,
            lease_id,
            result,
        };
        let (outcome, confirmed) = self.engine.run_replicated(queue, op, replication).await?;
        if let FinishOutcome::Done(task) = &outcome {
            metrics::transition(queue.as_str(), "completed", 1);
            self.deps.deliver_soon(queue, task);
        }
        Ok((outcome, confirmed))
    }

    /// Completes many leased tasks, each on its own terms; outcomes in the same order. Scripts of
    /// `BATCH_ITEMS_MAX` acks each, sent together on the shared connections (one round trip's
    /// wait). With `replication`, each script then waits for its replicas; also returns the
    /// fewest replicas that confirmed any of them.
    pub async fn ack_batch(
        &self,
        queue: &QueueName,
        items: &[AckItem],
        replication: Option<Replication>,
    ) -> Result<(Vec<FinishOutcome>, u32), StoreError> {
        let ops = items
            .chunks(BATCH_ITEMS_MAX)
            .map(|items| ack::AckBatch { items });
        let (outcomes, confirmed) = self.engine.run_chunks(queue, ops, replication).await?;
        let outcomes: Vec<FinishOutcome> = outcomes.into_iter().flatten().collect();
        let mut completed = 0;
        for outcome in &outcomes {
            if let FinishOutcome::Done(task) = outcome {
                completed += 1;
                self.deps.deliver_soon(queue, task);
            }
        }
        metrics::transition(queue.as_str(), "completed", completed as u64);
        Ok((outcomes, confirmed))
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
        let op = fail::Fail {
            id,
            lease_id,
            failure: &failure,
        };
        let outcome = self.engine.run(queue, op).await?;
        if let FinishOutcome::Done(task) = &outcome {
            let transition = match task.state {
                TaskState::Dead => "dead",
                _ => "retried",
            };
            metrics::transition(queue.as_str(), transition, 1);
            self.deps.deliver_soon(queue, task);
        }
        Ok(outcome)
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
