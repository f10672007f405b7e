//! The tasks service, for producers: submit (one or a batch), read, cancel, and list a queue's
//! tasks in one state. One op per script: `submit.rs` (`submit.lua`, `submit_batch.lua`),
//! `get.rs` (`get.lua`, `peek.lua`), `cancel.rs`, `list.rs`, `explain.rs`.

mod cancel;
mod explain;
mod get;
mod list;
mod submit;
mod types;

pub use explain::ExplainOutcome;
pub(crate) use submit::{push_task, read_outcome};
pub use types::*;
#[cfg(test)]
pub(crate) use {
    cancel::CANCEL,
    explain::EXPLAIN,
    get::{GET, PEEK},
    list::LIST,
    submit::{SUBMIT, SUBMIT_BATCH},
};

use super::registry::Registry;
use super::{BATCH_ITEMS_MAX, Engine, Replication, StoreError};
use crate::metrics;
use crate::model::{QueueName, TaskId, TaskState};

/// Tasks, for producers. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    engine: Engine,
    registry: Registry,
}

impl Tasks {
    pub(super) fn new(engine: Engine, registry: Registry) -> Self {
        Self { engine, registry }
    }

    /// Adds a task, unless its payload is over the queue's `max_payload_bytes`.
    pub async fn submit(
        &self,
        queue: &QueueName,
        task: NewTask,
    ) -> Result<SubmitOutcome, StoreError> {
        Ok(self.submit_replicated(queue, task, None).await?.0)
    }

    /// As `submit`; with `replication`, then waits for that many replicas to have it. Returns
    /// how many confirmed.
    pub async fn submit_replicated(
        &self,
        queue: &QueueName,
        task: NewTask,
        replication: Option<Replication>,
    ) -> Result<(SubmitOutcome, u32), StoreError> {
        let id = TaskId::new_v7();
        let (outcome, confirmed) = self
            .engine
            .run_replicated(queue, submit::Submit { id, task }, replication)
            .await?;
        if matches!(outcome, SubmitOutcome::Created(_)) {
            metrics::transition(queue.as_str(), "submitted", 1);
            self.registry.note_queue(queue);
        }
        Ok((outcome, confirmed))
    }

    /// Adds many tasks, each on its own terms; outcomes in the same order. Scripts of
    /// `BATCH_ITEMS_MAX` tasks each, sent together on the shared connections (one pipeline, one
    /// round trip's wait). With `replication`, each script then waits for its replicas; also
    /// returns the fewest replicas that confirmed any of them.
    pub async fn submit_batch(
        &self,
        queue: &QueueName,
        tasks: Vec<NewTask>,
        replication: Option<Replication>,
    ) -> Result<(Vec<SubmitOutcome>, u32), StoreError> {
        let mut chunks: Vec<Vec<(TaskId, NewTask)>> = Vec::new();
        for task in tasks {
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < BATCH_ITEMS_MAX => {
                    chunk.push((TaskId::new_v7(), task))
                }
                _ => chunks.push(vec![(TaskId::new_v7(), task)]),
            }
        }
        let ops = chunks
            .into_iter()
            .map(|tasks| submit::SubmitBatch { tasks });
        let (outcomes, confirmed) = self.engine.run_chunks(queue, ops, replication).await?;
        let outcomes: Vec<SubmitOutcome> = outcomes.into_iter().flatten().collect();
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, SubmitOutcome::Created(_)))
            .count();
        if created > 0 {
            metrics::transition(queue.as_str(), "submitted", created as u64);
            self.registry.note_queue(queue);
        }
        Ok((outcomes, confirmed))
    }

    /// Reads a task, settling what the Redis clock says is already due.
    pub async fn get(&self, queue: &QueueName, id: TaskId) -> Result<GetOutcome, StoreError> {
        self.engine.run(queue, get::Get { id, settle: true }).await
    }

    /// Why a task is where it is, read in one step that writes nothing.
    pub async fn explain(
        &self,
        queue: &QueueName,
        id: TaskId,
    ) -> Result<ExplainOutcome, StoreError> {
        self.engine.run(queue, explain::Explain { id }).await
    }

    /// Reads a task as stored, writing nothing (what is due is left to the reaper).
    pub async fn peek(&self, queue: &QueueName, id: TaskId) -> Result<GetOutcome, StoreError> {
        self.engine.run(queue, get::Get { id, settle: false }).await
    }

    /// Cancels a scheduled, ready or leased task; a leased task's lease ends at once.
    pub async fn cancel(&self, queue: &QueueName, id: TaskId) -> Result<CancelOutcome, StoreError> {
        let outcome = self.engine.run(queue, cancel::Cancel { id }).await?;
        if matches!(outcome, CancelOutcome::Cancelled(_)) {
            metrics::transition(queue.as_str(), "cancelled", 1);
        }
        Ok(outcome)
    }

    /// A page of the queue's tasks in `state`, in that state's order (see `list.lua`).
    pub async fn list(
        &self,
        queue: &QueueName,
        state: TaskState,
        limit: u32,
        after: Option<&PageCursor>,
    ) -> Result<TaskPage, StoreError> {
        let op = list::ListTasks {
            state,
            limit,
            after,
        };
        self.engine.run(queue, op).await
    }
}
