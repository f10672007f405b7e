//! Replicated writes confirmed together (group commit of `WAIT`).
//!
//! A write sent with `Taskgate-Durability: replicated` runs its script like any other call
//! (on the shared connections, in its lane, `lanes.rs`), and only then asks for its replicas.
//! Those asks meet here, one place per queue: the first starts a round, which writes a marker
//! and sends one `WAIT` on a connection of its own (`Conn::wait_replicas`); every ask that
//! comes while a round is on its way joins the next round, which starts the moment that one is
//! answered. Redis replicates in the order it writes, so replicas that have a round's marker
//! have every write made before it, on whichever connection: one `WAIT` confirms every write
//! whose script was answered before its round began.
//!
//! - At low load a round has one member and starts at once: one marker and one `WAIT`, as a
//!   write that waited alone would send. Under load a queue has at most one round on its way,
//!   so it holds one of the connections `WAIT`s block, however many writes wait.
//! - Each ask keeps its own deadline (`Replication::timeout` from the moment it asked): a
//!   round waits only as long as its most hurried member may, so a write that joined late in
//!   a slow round is still answered within its own wait.
//! - A round runs on a task of its own: a caller that goes away leaves its round (and the
//!   connection the `WAIT` blocks) intact, and a round whose members all went away before it
//!   began is not sent.
//! - Rounds are per queue because a marker must be on the node that has the queue's writes
//!   (its Cluster slot's primary); a queue's key tag puts the marker there.

use std::collections::hash_map::{Entry, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::lanes::unpoisoned;
use super::{Replication, StoreError};
use crate::model::QueueName;

/// The shortest wait a round asks for: `WAIT 0` would block until the replicas confirm,
/// however long that takes.
const SHORTEST_WAIT: Duration = Duration::from_millis(1);

/// What sends a round: a marker for `queue` and one `WAIT` for `replication`, answering how
/// many replicas confirmed.
pub trait RoundSender: Send + Sync + 'static {
    fn send_round(
        self: Arc<Self>,
        queue: QueueName,
        replication: Replication,
    ) -> BoxFuture<'static, Result<u32, StoreError>>;
}

/// A write waiting for the next round of its queue.
struct Member {
    replicas: u32,
    deadline: Instant,
    answer: oneshot::Sender<Result<u32, StoreError>>,
}

/// The queues with a round on its way, each with the members of its next round; a queue is in
/// the map exactly while it has a round on its way.
#[derive(Default)]
pub struct ReplicaRounds {
    queues: Mutex<HashMap<QueueName, Vec<Member>>>,
}

impl ReplicaRounds {
    /// Waits until `replication.replicas` replicas have every write answered before this call,
    /// or `replication.timeout` has passed: how many confirmed. `sender` sends the rounds.
    pub async fn confirm(
        self: &Arc<Self>,
        sender: Arc<dyn RoundSender>,
        queue: &QueueName,
        replication: Replication,
    ) -> Result<u32, StoreError> {
        let (answer, answered) = oneshot::channel();
        let member = Member {
            replicas: replication.replicas,
            deadline: Instant::now() + replication.timeout,
            answer,
        };
        let start = match self.lock().entry(queue.clone()) {
            Entry::Occupied(mut next) => {
                next.get_mut().push(member);
                false
            }
            Entry::Vacant(none) => {
                none.insert(vec![member]);
                true
            }
        };
        if start {
            let rounds = Rounds {
                rounds: self.clone(),
                queue: queue.clone(),
                finished: false,
            };
            tokio::spawn(rounds.run(sender));
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Redis(
                "the wait for replicas ended without an answer".into(),
            ))
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<QueueName, Vec<Member>>> {
        unpoisoned(&self.queues)
    }

    /// The members of `queue`'s next round, those whose caller went away left out; `None`, and
    /// the queue removed, when none is left.
    fn next_round(&self, queue: &QueueName) -> Option<Vec<Member>> {
        let mut queues = self.lock();
        let next = queues.get_mut(queue)?;
        next.retain(|member| !member.answer.is_closed());
        if next.is_empty() {
            queues.remove(queue);
            return None;
        }
        Some(std::mem::take(next))
    }
}

/// The rounds of one queue, one after another, until no write waits. If the task ends any
/// other way (a panic), dropping this removes the queue, and the writes waiting for its next
/// round get an error instead of waiting forever.
struct Rounds {
    rounds: Arc<ReplicaRounds>,
    queue: QueueName,
    finished: bool,
}

impl Rounds {
    async fn run(mut self, sender: Arc<dyn RoundSender>) {
        while let Some(members) = self.rounds.next_round(&self.queue) {
            let now = Instant::now();
            let replicas = members.iter().map(|m| m.replicas).max().unwrap_or(1);
            let timeout = (members.iter())
                .map(|m| m.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or_default()
                .max(SHORTEST_WAIT);
            let replication = Replication { replicas, timeout };
            let confirmed = sender.clone().send_round(self.queue.clone(), replication);
            let confirmed = confirmed.await;
            for member in members {
                let _ = member.answer.send(confirmed.clone());
            }
        }
        self.finished = true;
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        if !self.finished {
            self.rounds.lock().remove(&self.queue);
        }
    }
}

#[cfg(test)]
#[path = "replica_rounds_tests.rs"]
mod tests;
