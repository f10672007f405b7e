//! Waiting without holding a connection: long-poll leases and result waits. A waiter takes its
//! place among the queue's listeners BEFORE it tries, so nothing that happens after its try can
//! pass it unseen; then it tries, and if there is nothing, it waits to be woken (by the
//! notifier), for a limit's retry time, for a safety re-check, or for shutdown.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{GetOutcome, LeaseOutcome, LeaseRequest, Listener, Store, StoreError, Strategy};
use crate::model::{QueueName, TaskId, TaskState};

/// Longest a waiter trusts notifications alone before checking again itself.
const RECHECK_EVERY: Duration = Duration::from_secs(2);

impl Store {
    /// Leases like `lease`, waiting up to `wait` for something to lease.
    pub async fn lease_waiting(
        &self,
        queue: &QueueName,
        request: &LeaseRequest,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<LeaseOutcome, StoreError> {
        self.lease_across_waiting(std::slice::from_ref(queue), None, request, wait, shutdown)
            .await
    }

    /// Leases like `lease_across` (or, without a strategy, from the one queue given: `Strict`
    /// over the list if there are several), waiting up to `wait` for something to lease from
    /// any of the queues. An empty list leases nothing.
    pub async fn lease_across_waiting(
        &self,
        queues: &[QueueName],
        strategy: Option<Strategy>,
        request: &LeaseRequest,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<LeaseOutcome, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let mut listeners = Vec::new();
            if !wait.is_zero() {
                for queue in queues {
                    let channel = self.inner.keys.queue_key(queue, "events");
                    let request_id = request.request_id.as_deref();
                    let listener = self.inner.notifier.listen_ready(channel, request_id).await;
                    listeners.push(listener);
                }
            }
            let outcome = match (strategy, queues) {
                (None, [queue]) => self.lease(queue, request).await?,
                // No queue at all leases nothing (`lease_across` tries none).
                (strategy, _) => {
                    let strategy = strategy.unwrap_or_default();
                    self.lease_across(queues, strategy, request).await?
                }
            };
            if !outcome.leases.is_empty() || outcome.replayed {
                return Ok(outcome);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(outcome);
            }
            let mut nap = left.min(RECHECK_EVERY);
            if let Some(ms) = outcome.retry_after_ms {
                nap = nap.min(Duration::from_millis(ms));
            }
            if !woken(&listeners, nap, shutdown).await {
                return Ok(LeaseOutcome::default());
            }
        }
    }

    /// Reads a task, waiting up to `wait` for it to reach a terminal state.
    pub async fn get_waiting(
        &self,
        queue: &QueueName,
        id: TaskId,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Result<GetOutcome, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let listener = if wait.is_zero() {
                None
            } else {
                Some(self.listen_task(queue, id).await)
            };
            let outcome = self.get(queue, id).await?;
            let done = match &outcome {
                GetOutcome::Found(task) => task.state.is_terminal(),
                _ => true,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                return Ok(outcome);
            }
            if !woken(listener.as_slice(), left.min(RECHECK_EVERY), shutdown).await {
                return Ok(outcome);
            }
        }
    }

    /// A listener woken whenever task `id` changes (for event streams).
    pub async fn listen_task(&self, queue: &QueueName, id: TaskId) -> Listener {
        let channel = self.inner.keys.queue_key(queue, "events");
        self.inner
            .notifier
            .listen_task(channel, id.to_string())
            .await
    }
}

/// Waits until one of `listeners` is woken or `nap` passes; false when shutdown came first.
async fn woken(listeners: &[Listener], nap: Duration, shutdown: &CancellationToken) -> bool {
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = listeners
        .iter()
        .map(|l| Box::pin(l.notified()) as Pin<Box<dyn Future<Output = ()> + Send + '_>>)
        .collect();
    // `select_all` needs at least one future; this one never resolves.
    waits.push(Box::pin(std::future::pending()));
    let any = futures_util::future::select_all(waits);
    tokio::select! {
        _ = any => true,
        () = tokio::time::sleep(nap) => true,
        () = shutdown.cancelled() => false,
    }
}

impl TaskState {
    /// Completed, dead and cancelled tasks change no more (unless redriven).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Dead | TaskState::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PoolSettings;

    /// A store that never connects: nothing below needs Redis.
    fn offline_store() -> Store {
        let settings = PoolSettings {
            url: "redis://127.0.0.1:1".into(),
            ca_file: None,
            max_size: 1,
            wait_timeout: Duration::from_millis(10),
            connect_timeout: Duration::from_millis(10),
            response_timeout: Duration::from_millis(10),
        };
        let defaults = <crate::config::Config as clap::Parser>::parse_from(["taskgate"]);
        Store::new(&settings, "tg", &defaults.default_policy())
            .expect("a store for an offline Redis")
    }

    /// An empty list of queues is a call that leases nothing, not an index out of bounds.
    #[tokio::test]
    async fn a_lease_from_no_queue_leases_nothing() {
        let store = offline_store();
        let request = LeaseRequest {
            max_tasks: 1,
            ..LeaseRequest::default()
        };
        let stop = CancellationToken::new();
        for strategy in [None, Some(Strategy::Strict)] {
            let outcome = store
                .lease_across_waiting(&[], strategy, &request, Duration::ZERO, &stop)
                .await
                .expect("no Redis call is needed");
            assert!(outcome.leases.is_empty());
        }
    }
}
