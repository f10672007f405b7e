//! Leases, for workers: lease (from one queue or several), heartbeat, ack and fail.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::value::RawValue;

use super::{
    AckItem, BATCH_ITEMS_MAX, Failure, FinishOutcome, HeartbeatOutcome, LeaseOutcome, LeaseRequest,
    Replication, Store, StoreError, Strategy, ops,
};
use crate::metrics;
use crate::model::{ERROR_MESSAGE_MAX, QueueName, TaskId, TaskState};

impl Store {
    /// Leases up to `max_tasks` ready tasks, within the queue's limits. An empty list means
    /// nothing is ready, the queue is paused, or a limit allows nothing now.
    pub async fn lease(
        &self,
        queue: &QueueName,
        request: &LeaseRequest,
    ) -> Result<LeaseOutcome, StoreError> {
        let outcome = self.run(queue, ops::Lease { request }).await?;
        if !outcome.replayed {
            metrics::transition(queue.as_str(), "leased", outcome.leases.len() as u64);
        }
        Ok(outcome)
    }

    /// Leases up to `max_tasks` from several queues, one script per queue (so each runs in
    /// its queue's Cluster slot). `Strict` takes from the queues in order; `Weighted` takes
    /// turns in proportion to each queue's `weight` (see `Turns`), so a light queue still gets
    /// its share.
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
                Strategy::Weighted => self.inner.turns.pick(queues, &candidates),
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
        let op = ops::Ack {
            id,
            lease_id,
            result,
        };
        let (outcome, confirmed) = self.run_replicated(queue, op, replication).await?;
        if let FinishOutcome::Done(_) = &outcome {
            metrics::transition(queue.as_str(), "completed", 1);
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
            .map(|items| ops::AckBatch { items });
        let (outcomes, confirmed) = self.run_chunks(queue, ops, replication).await?;
        let outcomes: Vec<FinishOutcome> = outcomes.into_iter().flatten().collect();
        let completed = outcomes
            .iter()
            .filter(|o| matches!(o, FinishOutcome::Done(_)))
            .count();
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
        let op = ops::Fail {
            id,
            lease_id,
            failure: &failure,
        };
        let outcome = self.run(queue, op).await?;
        if let FinishOutcome::Done(task) = &outcome {
            let transition = match task.state {
                TaskState::Dead => "dead",
                _ => "retried",
            };
            metrics::transition(queue.as_str(), transition, 1);
        }
        Ok(outcome)
    }
}

/// Whose turn it is in weighted multi-queue leasing, per list of queues asked for: smooth
/// weighted round-robin (as nginx balances upstreams), so over any stretch of calls each queue
/// gets its weight's share almost exactly and the lightest still gets its turns; a new list
/// starts at a random point, so instances do not move in step.
#[derive(Default)]
pub struct Turns {
    credit: Mutex<HashMap<Vec<QueueName>, HashMap<QueueName, i64>>>,
}

/// Lists of queues remembered; beyond, the memory starts over (fairness resumes at once).
const TURNS_REMEMBERED: usize = 1000;

impl Turns {
    /// The index in `candidates` (queues with work, and their weights) to lease from next.
    fn pick(&self, asked: &[QueueName], candidates: &[(QueueName, u32)]) -> usize {
        let Ok(mut all) = self.credit.lock() else {
            return 0;
        };
        if all.len() >= TURNS_REMEMBERED && !all.contains_key(asked) {
            all.clear();
        }
        let total: i64 = candidates.iter().map(|(_, w)| i64::from(*w)).sum();
        let credit = all.entry(asked.to_vec()).or_insert_with(|| {
            candidates
                .iter()
                .map(|(q, _)| (q.clone(), rand::random_range(0..total.max(1))))
                .collect()
        });
        let mut best = 0;
        let mut best_credit = i64::MIN;
        for (at, (queue, weight)) in candidates.iter().enumerate() {
            let c = credit.entry(queue.clone()).or_insert(0);
            *c += i64::from(*weight);
            if *c > best_credit {
                best_credit = *c;
                best = at;
            }
        }
        if let Some(c) = credit.get_mut(&candidates[best].0) {
            *c -= total;
        }
        best
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

    #[test]
    fn weighted_turns_follow_the_weights_closely() {
        let q = |n: &str| QueueName::parse(n).expect("name");
        let asked = [q("heavy"), q("light"), q("idle")];
        let candidates = [(q("heavy"), 3), (q("light"), 1)];
        let turns = Turns::default();
        let picks: Vec<usize> = (0..400).map(|_| turns.pick(&asked, &candidates)).collect();
        let heavy = picks.iter().filter(|p| **p == 0).count();
        assert!((298..=302).contains(&heavy), "{heavy} of 400");
        // The light queue never waits more than a round for its turn.
        assert!(picks.windows(5).all(|w| w.contains(&1)), "{picks:?}");
    }
}
