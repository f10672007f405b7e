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
pub(crate) use {
    cancel::CANCEL,
    explain::EXPLAIN,
    get::{GET, PEEK},
    list::LIST,
    submit::{SUBMIT, SUBMIT_BATCH},
};

use super::deps::Dependencies;
use super::registry::Registry;
use super::{BATCH_ITEMS_MAX, Engine, Replication, StoreError};
use crate::metrics;
use crate::model::{DependencyRef, QueueName, Task, TaskId, TaskState};

/// Tasks, for producers. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    engine: Engine,
    registry: Registry,
    deps: Dependencies,
}

impl Tasks {
    pub(super) fn new(engine: Engine, registry: Registry, deps: Dependencies) -> Self {
        Self {
            engine,
            registry,
            deps,
        }
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
        let parents = task.depends_on.clone();
        if let Some(parents) = &parents {
            let unknown = self.deps.unknown(parents).await?;
            if !unknown.is_empty() {
                return Ok((SubmitOutcome::UnknownDependencies(unknown), 0));
            }
        }
        let (mut outcome, confirmed) = self
            .engine
            .run_replicated(queue, submit::Submit { id, task }, replication)
            .await?;
        if let SubmitOutcome::Created(task) = &mut outcome {
            metrics::transition(queue.as_str(), "submitted", 1);
            self.registry.note_queue(queue);
            if let Some(parents) = &parents {
                self.link(queue, task, parents).await;
            }
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
        let wanted: Vec<DependencyRef> = tasks
            .iter()
            .flat_map(|task| task.depends_on.iter().flatten().cloned())
            .collect();
        let unknown = if wanted.is_empty() {
            Vec::new()
        } else {
            self.deps.unknown(&wanted).await?
        };
        // Tasks naming an unknown parent are refused where they stand; the others go.
        let mut refused: Vec<Option<SubmitOutcome>> = Vec::with_capacity(tasks.len());
        let mut parents: Vec<Option<Vec<DependencyRef>>> = Vec::new();
        let mut chunks: Vec<Vec<(TaskId, NewTask)>> = Vec::new();
        for task in tasks {
            let missing: Vec<DependencyRef> = (task.depends_on.iter().flatten())
                .filter(|parent| unknown.contains(parent))
                .cloned()
                .collect();
            if !missing.is_empty() {
                refused.push(Some(SubmitOutcome::UnknownDependencies(missing)));
                continue;
            }
            refused.push(None);
            parents.push(task.depends_on.clone());
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
        let mut submitted: Vec<SubmitOutcome> = outcomes.into_iter().flatten().collect();
        let mut created = 0;
        for (outcome, parents) in submitted.iter_mut().zip(&parents) {
            if let SubmitOutcome::Created(task) = outcome {
                created += 1;
                if let Some(parents) = parents {
                    self.link(queue, task, parents).await;
                }
            }
        }
        if created > 0 {
            metrics::transition(queue.as_str(), "submitted", created as u64);
            self.registry.note_queue(queue);
        }
        let mut submitted = submitted.into_iter();
        let outcomes = refused
            .into_iter()
            .filter_map(|refused| refused.or_else(|| submitted.next()))
            .collect();
        Ok((outcomes, confirmed))
    }

    /// Stores up to `BATCH_ITEMS_MAX` tasks of a flow as given: their parents are tasks of the
    /// flow being stored, neither checked nor linked here (`store/flows` does both).
    pub(crate) async fn store_flow_chunk(
        &self,
        queue: &QueueName,
        tasks: Vec<(TaskId, NewTask)>,
    ) -> Result<Vec<(TaskId, SubmitOutcome)>, StoreError> {
        let ids: Vec<TaskId> = tasks.iter().map(|(id, _)| *id).collect();
        let outcomes = self
            .engine
            .run(queue, submit::SubmitBatch { tasks })
            .await?;
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, SubmitOutcome::Created(_)))
            .count();
        if created > 0 {
            metrics::transition(queue.as_str(), "submitted", created as u64);
            self.registry.note_queue(queue);
        }
        Ok(ids.into_iter().zip(outcomes).collect())
    }

    /// The dependencies service these tasks link through.
    pub(crate) fn deps(&self) -> &Dependencies {
        &self.deps
    }

    /// Links a new waiting task to its parents (`store/deps`) and answers it as it is then. A
    /// failure leaves the links to the sweep: the task is stored, and it waits.
    async fn link(&self, queue: &QueueName, task: &mut Box<Task>, parents: &[DependencyRef]) {
        let Ok(id) = TaskId::parse(&task.id) else {
            return;
        };
        match self.deps.link(queue, id, parents).await {
            Ok(Some(linked)) => **task = linked,
            Ok(None) => {}
            Err(err) => tracing::warn!(queue = %queue, task = %task.id, error = %err,
                "linking a new task to its parents failed; the sweep will link it"),
        }
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

    /// Cancels a waiting, scheduled, ready or leased task; a leased task's lease ends at once.
    pub async fn cancel(&self, queue: &QueueName, id: TaskId) -> Result<CancelOutcome, StoreError> {
        let outcome = self.engine.run(queue, cancel::Cancel { id }).await?;
        if let CancelOutcome::Cancelled(task) = &outcome {
            metrics::transition(queue.as_str(), "cancelled", 1);
            self.deps.deliver_soon(queue, task);
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
