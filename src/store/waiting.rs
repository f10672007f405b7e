//! The waiting service: waiting without holding a connection: long-poll leases and result
//! waits, and the listeners event streams follow a task with. A waiter takes its
//! place among the queue's listeners BEFORE it tries, so nothing that happens after its try can
//! pass it unseen; then it tries, and if there is nothing, it waits to be woken (by the
//! notifier), for a limit's retry time, for the pub/sub connection to drop or come back, for a
//! safety re-check, or for shutdown.
//!
//! What idle waiters cost: while the subscription is confirmed, notifications are trusted (see
//! `notify`), so a waiter checks again only on a long, jittered safety interval, and a wait that
//! ends with nothing is answered without a last look. A new long-poll on a queue this instance
//! just found empty (nothing heard since) skips its first script; with a `request_id` it only
//! asks whether that id recorded leases (one `HEXISTS`). An unconfirmed subscription or a
//! connection that is down makes waiters check every `RECHECK_UNTRUSTED` instead.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::dispatch::{Dispatch, LeaseOutcome, LeaseRequest, Strategy};
use super::notify::{Health, Notifier};
use super::tasks::{GetOutcome, Tasks};
use super::{Engine, Listener, StoreError};
use crate::model::{QueueName, TaskId};

/// How often a waiter checks again when a message for it could pass unseen (its subscription
/// is not confirmed, or the pub/sub connection is down).
const RECHECK_UNTRUSTED: Duration = Duration::from_secs(2);

/// A check when nothing says one is due, against what no design foresaw: 20 to 30 s, at random,
/// so that waiters started together do not check together.
fn safety_interval() -> Duration {
    Duration::from_millis(rand::random_range(20_000..30_000))
}

/// How a wait ended.
enum Woken {
    /// A listener was woken, or the connection went down or came back: look again.
    Look,
    /// The nap ran out with no news.
    Slept,
    Shutdown,
}

/// Waiting for work, for results and for changes. Cheap to clone.
#[derive(Clone)]
pub struct Waiting {
    engine: Engine,
    notifier: Notifier,
    dispatch: Dispatch,
    tasks: Tasks,
}

impl Waiting {
    pub(super) fn new(
        engine: Engine,
        notifier: Notifier,
        dispatch: Dispatch,
        tasks: Tasks,
    ) -> Self {
        Self {
            engine,
            notifier,
            dispatch,
            tasks,
        }
    }

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
        let notifier = &self.notifier;
        let mut health = notifier.health();
        let mut first = true;
        loop {
            let mut listeners = Vec::new();
            if !wait.is_zero() {
                for queue in queues {
                    let channel = self.engine.keys().queue_key(queue, "events");
                    let request_id = request.request_id.as_deref();
                    let labels = request.labels.clone();
                    let listener = notifier.listen_ready(channel, request_id, labels).await;
                    listeners.push(listener);
                }
            }
            let up = health.borrow_and_update().up;
            let skip = first
                && !listeners.is_empty()
                && listeners.iter().all(|l| notifier.known_empty(l))
                && !self.recorded(queues, request).await?;
            first = false;
            let outcome = match (skip, strategy, queues) {
                (true, _, _) => LeaseOutcome::default(),
                (false, None, [queue]) => self.dispatch.lease(queue, request).await?,
                // No queue at all leases nothing (`lease_across` tries none).
                (false, strategy, _) => {
                    let strategy = strategy.unwrap_or_default();
                    self.dispatch
                        .lease_across(queues, strategy, request)
                        .await?
                }
            };
            if !outcome.leases.is_empty() || outcome.replayed {
                return Ok(outcome);
            }
            let empty = outcome.retry_after_ms.is_none() && !outcome.paused;
            // Ready tasks this worker's labels do not satisfy are not "empty" for the next one.
            if empty && !skip && !outcome.unmatched {
                listeners.iter().for_each(|l| notifier.note_empty(l));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(outcome);
            }
            let trusted = up && listeners.iter().all(Listener::confirmed);
            let check = if trusted {
                safety_interval()
            } else {
                RECHECK_UNTRUSTED
            };
            let mut nap = left.min(check);
            if let Some(ms) = outcome.retry_after_ms {
                nap = nap.min(Duration::from_millis(ms));
            }
            match woken(&listeners, nap, shutdown, Some(&mut health)).await {
                Woken::Shutdown => return Ok(LeaseOutcome::default()),
                // The wait is over, and no message could have passed unseen: nothing came.
                Woken::Slept if nap == left && trusted && empty => return Ok(outcome),
                Woken::Slept | Woken::Look => {}
            }
        }
    }

    /// Whether an earlier call recorded leases under `request`'s id on any of `queues` (one
    /// `HEXISTS` each; false without an id).
    async fn recorded(
        &self,
        queues: &[QueueName],
        request: &LeaseRequest,
    ) -> Result<bool, StoreError> {
        let Some(id) = &request.request_id else {
            return Ok(false);
        };
        for queue in queues {
            let key = self.engine.keys().queue_key(queue, "requests");
            let found: bool = self
                .engine
                .query(redis::cmd("HEXISTS").arg(key).arg(id))
                .await?;
            if found {
                return Ok(true);
            }
        }
        Ok(false)
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
            let outcome = self.tasks.get(queue, id).await?;
            let done = match &outcome {
                GetOutcome::Found(task) => task.state.is_terminal(),
                _ => true,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                return Ok(outcome);
            }
            let nap = left.min(listener.as_ref().map_or(RECHECK_UNTRUSTED, recheck_after));
            if let Woken::Shutdown = woken(listener.as_slice(), nap, shutdown, None).await {
                return Ok(outcome);
            }
        }
    }

    /// A listener woken whenever task `id` changes (for event streams).
    pub async fn listen_task(&self, queue: &QueueName, id: TaskId) -> Listener {
        let channel = self.engine.keys().queue_key(queue, "events");
        self.notifier.listen_task(channel, id.to_string()).await
    }
}

/// When a watcher of `listener` should look again on its own: on the long safety interval
/// while its subscription is trusted, else soon.
pub fn recheck_after(listener: &Listener) -> Duration {
    if listener.trusted() {
        safety_interval()
    } else {
        RECHECK_UNTRUSTED
    }
}

/// Waits until one of `listeners` is woken, the connection's health changes (when watched),
/// `nap` passes, or shutdown comes.
async fn woken(
    listeners: &[Listener],
    nap: Duration,
    shutdown: &CancellationToken,
    health: Option<&mut watch::Receiver<Health>>,
) -> Woken {
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = listeners
        .iter()
        .map(|l| Box::pin(l.notified()) as Pin<Box<dyn Future<Output = ()> + Send + '_>>)
        .collect();
    // `select_all` needs at least one future; this one never resolves.
    waits.push(Box::pin(std::future::pending()));
    let any = futures_util::future::select_all(waits);
    let health_changed = async {
        let changed = match health {
            Some(health) => health.changed().await.is_ok(),
            None => false,
        };
        if !changed {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = any => Woken::Look,
        () = health_changed => Woken::Look,
        () = tokio::time::sleep(nap) => Woken::Slept,
        () = shutdown.cancelled() => Woken::Shutdown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PoolSettings;

    /// The waiting service of a store that never connects: nothing below needs Redis.
    fn offline() -> Waiting {
        let settings = PoolSettings {
            url: "redis://127.0.0.1:1".into(),
            ca_file: None,
            max_size: 1,
            wait_timeout: Duration::from_millis(10),
            connect_timeout: Duration::from_millis(10),
            response_timeout: Duration::from_millis(10),
        };
        let defaults = <crate::config::Config as clap::Parser>::parse_from(["taskgate"]);
        crate::store::open(&settings, "tg", &defaults.default_policy())
            .expect("a store for an offline Redis")
            .waiting
    }

    /// An empty list of queues is a call that leases nothing, not an index out of bounds.
    #[tokio::test]
    async fn a_lease_from_no_queue_leases_nothing() {
        let waiting = offline();
        let request = LeaseRequest {
            max_tasks: 1,
            ..LeaseRequest::default()
        };
        let stop = CancellationToken::new();
        for strategy in [None, Some(Strategy::Strict)] {
            let outcome = waiting
                .lease_across_waiting(&[], strategy, &request, Duration::ZERO, &stop)
                .await
                .expect("no Redis call is needed");
            assert!(outcome.leases.is_empty());
        }
    }
}
