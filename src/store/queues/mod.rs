//! The queues service: queues as wholes: the list of them, their stats, dead letters
//! (`dead.rs`: redrive and purge), and deletion (`drop.rs`). Operations on many tasks run as
//! repeated bounded scripts.

mod dead;
mod drop;
mod history;
mod stats;
mod workers;

pub(crate) use {
    dead::{PURGE_DEAD, REDRIVE},
    drop::DROP,
    history::{HISTORY, NOTE_HISTORY},
    stats::STATS,
    workers::WORKERS,
};

pub use workers::SeenWorkers;

use super::registry::Registry;
use super::{Engine, StoreError};
use crate::metrics;
use crate::model::{HistoryPoint, QueueName, QueueStats, TaskId};

/// Tasks one redrive or purge script handles (the scripts cap it further by their budget).
const BATCH: u32 = 100;

/// Queues as wholes. Cheap to clone.
#[derive(Clone)]
pub struct Queues {
    engine: Engine,
    registry: Registry,
}

impl Queues {
    pub(super) fn new(engine: Engine, registry: Registry) -> Self {
        Self { engine, registry }
    }

    /// Up to `limit` known queues in name order, after `after` (from the start if `None`).
    pub async fn list(
        &self,
        after: Option<&QueueName>,
        limit: usize,
    ) -> Result<Vec<QueueName>, StoreError> {
        self.registry.queues_after(after, limit).await
    }

    /// Counts per state, totals, oldest ready age and effective policy; `None` for a queue
    /// with no trace in Redis.
    pub async fn stats(&self, queue: &QueueName) -> Result<Option<QueueStats>, StoreError> {
        let op = stats::Stats {
            defaults: self.engine.defaults(),
        };
        self.engine.run(queue, op).await
    }

    /// The last `minutes` minutes of the queue's history, a point per minute, the current one
    /// last; `None` for a queue with no trace in Redis.
    pub async fn history(
        &self,
        queue: &QueueName,
        minutes: i64,
    ) -> Result<Option<Vec<HistoryPoint>>, StoreError> {
        self.engine.run(queue, history::History { minutes }).await
    }

    /// The workers seen on the queue within the window; `None` for a queue with no trace in
    /// Redis.
    pub async fn workers(&self, queue: &QueueName) -> Result<Option<SeenWorkers>, StoreError> {
        self.engine.run(queue, workers::Workers).await
    }

    /// Writes the queue's snapshot for `minute` (minutes since the epoch), as the reaper's
    /// sweep does for the current one: for tools and tests that fill a history.
    pub async fn note_history(&self, queue: &QueueName, minute: i64) -> Result<(), StoreError> {
        self.engine
            .run(queue, history::NoteHistory { minute })
            .await
    }

    /// Moves dead tasks back to ready (attempts reset): the listed ones, or all of them. In
    /// bounded batches; "all" means those dead when the call began. Returns how many.
    pub async fn redrive(
        &self,
        queue: &QueueName,
        ids: Option<&[TaskId]>,
    ) -> Result<u64, StoreError> {
        let mut redriven = 0;
        match ids {
            Some(ids) => {
                for batch in ids.chunks(BATCH as usize) {
                    redriven += self
                        .engine
                        .run(
                            queue,
                            dead::Redrive {
                                ids: batch,
                                oldest: 0,
                            },
                        )
                        .await?
                        .0;
                }
            }
            None => {
                let Some(stats) = self.stats(queue).await? else {
                    return Ok(0);
                };
                let mut left = stats.counts.dead;
                while left > 0 {
                    let oldest = u32::try_from(left).unwrap_or(BATCH).min(BATCH);
                    let (done, _) = self
                        .engine
                        .run(queue, dead::Redrive { ids: &[], oldest })
                        .await?;
                    if done == 0 {
                        break;
                    }
                    redriven += done;
                    left = left.saturating_sub(done);
                }
            }
        }
        metrics::transition(queue.as_str(), "redriven", redriven);
        Ok(redriven)
    }

    /// Deletes the queue's dead tasks, in bounded batches. Returns how many.
    pub async fn purge_dead(&self, queue: &QueueName) -> Result<u64, StoreError> {
        let mut purged = 0;
        loop {
            let (done, left) = self
                .engine
                .run(queue, dead::PurgeDead { most: BATCH })
                .await?;
            purged += done;
            if done == 0 || left == 0 {
                metrics::transition(queue.as_str(), "purged", purged);
                return Ok(purged);
            }
        }
    }

    /// Deletes the queue: every task, its counters and its policy, and its registry entry.
    /// Returns false when there was nothing to delete.
    pub async fn drop_queue(&self, queue: &QueueName) -> Result<bool, StoreError> {
        let deleted = self.engine.run(queue, drop::Drop).await?;
        self.registry.unregister(queue).await?;
        Ok(deleted > 0)
    }
}
