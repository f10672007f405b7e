//! Queues as wholes: their stats, the reaper's sweep, dead letters, and deletion. Operations on
//! many tasks run as repeated bounded scripts.

use super::{PageCursor, ReapReport, Store, StoreError, TaskPage, ops};
use crate::metrics;
use crate::model::{QueueName, QueueStats, TaskId, TaskState};

/// Tasks one redrive or purge script handles (the scripts cap it further by their budget).
const BATCH: u32 = 100;

impl Store {
    /// Counts per state, totals, oldest ready age and effective policy; `None` for a queue
    /// with no trace in Redis.
    pub async fn stats(&self, queue: &QueueName) -> Result<Option<QueueStats>, StoreError> {
        let op = ops::Stats {
            defaults: &self.inner.defaults,
        };
        self.run(queue, op).await
    }

    /// One bounded sweep of a queue: expired leases, due tasks, expired terminal tasks. A queue
    /// that turns out to be gone (nothing left in it) leaves the registry.
    pub async fn reap(&self, queue: &QueueName) -> Result<ReapReport, StoreError> {
        let report = self.run(queue, ops::Reap).await?;
        if report.gone {
            self.unregister(queue).await?;
        }
        Ok(report)
    }

    /// A page of the queue's tasks in `state`, in that state's order (see `scripts/list.lua`).
    pub async fn tasks_in(
        &self,
        queue: &QueueName,
        state: TaskState,
        limit: u32,
        after: Option<&PageCursor>,
    ) -> Result<TaskPage, StoreError> {
        self.run(
            queue,
            ops::ListTasks {
                state,
                limit,
                after,
            },
        )
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
                        .run(
                            queue,
                            ops::Redrive {
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
                    let (done, _) = self.run(queue, ops::Redrive { ids: &[], oldest }).await?;
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
            let (done, left) = self.run(queue, ops::PurgeDead { most: BATCH }).await?;
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
        let deleted = self.run(queue, ops::Drop).await?;
        self.unregister(queue).await?;
        Ok(deleted > 0)
    }
}
