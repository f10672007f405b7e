//! Leases, for workers: lease (from one queue or several), heartbeat, ack and fail.

use serde_json::value::RawValue;

use super::{
    Failure, FinishOutcome, HeartbeatOutcome, LeaseOutcome, LeaseRequest, Store, StoreError,
    Strategy, ops,
};
use crate::model::{ERROR_MESSAGE_MAX, QueueName, TaskId};

impl Store {
    /// Leases up to `max_tasks` ready tasks, within the queue's limits. An empty list means
    /// nothing is ready, the queue is paused, or a limit allows nothing now.
    pub async fn lease(
        &self,
        queue: &QueueName,
        request: &LeaseRequest,
    ) -> Result<LeaseOutcome, StoreError> {
        self.run(queue, ops::Lease { request }).await
    }

    /// Leases up to `max_tasks` from several queues, one script per queue (so each runs in
    /// its queue's Cluster slot). `Strict` takes from the queues in order; `Weighted` picks at
    /// random in proportion to each queue's `weight`, so a light queue still gets its share.
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
        let mut candidates: Vec<(QueueName, u32)> = match strategy {
            Strategy::Strict => queues.iter().map(|q| (q.clone(), 1)).collect(),
            Strategy::Weighted => self.weights(queues).await?,
        };
        let mut total = LeaseOutcome::default();
        while total.leases.len() < request.max_tasks as usize && !candidates.is_empty() {
            let at = match strategy {
                Strategy::Strict => 0,
                Strategy::Weighted => weighted_pick(&candidates),
            };
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
            total.leases.extend(outcome.leases);
        }
        if !total.leases.is_empty() {
            total.retry_after_ms = None;
        }
        Ok(total)
    }

    /// The queues that might have work now (not paused, something ready), with their weights.
    async fn weights(&self, queues: &[QueueName]) -> Result<Vec<(QueueName, u32)>, StoreError> {
        let views =
            futures_util::future::try_join_all(queues.iter().map(|q| self.dispatch_view(q)))
                .await?;
        Ok(queues
            .iter()
            .zip(views)
            .filter(|(_, (weight, ready))| *weight > 0 && *ready > 0)
            .map(|(q, (weight, _))| (q.clone(), weight))
            .collect())
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
}

/// Picks an index with probability proportional to its weight.
fn weighted_pick(candidates: &[(QueueName, u32)]) -> usize {
    let total: u64 = candidates.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut ticket = rand::random_range(0..total.max(1));
    for (at, (_, weight)) in candidates.iter().enumerate() {
        if ticket < u64::from(*weight) {
            return at;
        }
        ticket -= u64::from(*weight);
    }
    0
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

    #[test]
    fn weighted_picks_follow_the_weights() {
        let q = |n: &str| QueueName::parse(n).expect("name");
        let candidates = [(q("heavy"), 3), (q("light"), 1)];
        let heavy = (0..4000)
            .filter(|_| weighted_pick(&candidates) == 0)
            .count();
        assert!((2700..=3300).contains(&heavy), "{heavy} of 4000");
    }
}
