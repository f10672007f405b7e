//! The flows service (SPEC §11): many tasks across queues, with dependencies between them,
//! stored all or nothing although they live in several Redis Cluster slots.
//!
//! How: the flow's record, in its home queue's slot (its first task's queue), is begun
//! (`begin.lua`); every task is stored `waiting`, with the flow's commit as one more parent
//! (`~<uuid>` in the home queue, `prelude/deps.lua`); the links between the tasks are made
//! (`deps/link.lua`); then the record is committed (`commit.lua`), and only from then on may any
//! task run: the commit is delivered to each task as its parent's completion
//! (`deps/resolve.lua`). An instance killed before the commit leaves tasks that wait for a
//! commit that never comes: the sweep's re-link asks the home slot (`deps/link.lua`), which
//! answers `gone` once `FLOW_COMMIT_MS` has passed (and from then on refuses the commit), and
//! they are cancelled unrun. An instance killed after the commit leaves its tasks to the same
//! re-link, which answers `completed`. Flow records are forgotten by the sweep once none of
//! their tasks is left (`due.lua`, `forget.lua`).

mod read;
mod write;

#[cfg(test)]
pub(crate) use {
    read::{DUE, READ, STATES},
    write::{BEGIN, COMMIT, FORGET},
};

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::future::try_join_all;
use serde::Deserialize;

use super::tasks::{NewTask, SubmitOutcome, Tasks};
use super::{BATCH_ITEMS_MAX, Engine, StoreError};
use crate::metrics;
use crate::model::{
    DependencyRef, Flow, FlowId, FlowTask, OUTBOX_PAGE, QueueName, TaskId, TaskState, rfc3339_ms,
};

/// Scripts a flow's storing (or cancelling) runs at once.
const CONCURRENT_STEPS: usize = 16;
/// Flows one sweep of a queue checks.
const DUE_PER_SWEEP: usize = 8;

/// One task of a flow to store: its reference, queue, the task, and the places (in the flow's
/// list) of the tasks it depends on.
pub struct NewFlowTask {
    pub reference: String,
    pub queue: QueueName,
    pub task: NewTask,
    pub after: Vec<usize>,
}

/// How storing a flow ended.
#[derive(Debug)]
pub enum FlowOutcome {
    Created(Flow),
    /// A task was refused by its queue (its payload over the queue's cap, too many requirement
    /// sets): the flow is not committed, and the tasks stored so far are cancelled unrun.
    Refused {
        at: usize,
        outcome: SubmitOutcome,
    },
}

/// A committed flow's record.
#[derive(Deserialize)]
struct Record {
    at: i64,
    /// (queue, id, ref) of each task, in the order given.
    tasks: Vec<(String, String, String)>,
}

/// Flows. Cheap to clone.
#[derive(Clone)]
pub struct Flows {
    engine: Engine,
    tasks: Tasks,
}

impl Flows {
    pub(super) fn new(engine: Engine, tasks: Tasks) -> Self {
        Self { engine, tasks }
    }

    /// Stores a flow: every task, or (in effect) none. The caller has checked the references:
    /// `after` points at other tasks of the flow and has no cycle.
    pub async fn submit(&self, tasks: Vec<NewFlowTask>) -> Result<FlowOutcome, StoreError> {
        let outcome = self.store_flow(tasks).await;
        metrics::flow(match &outcome {
            Ok(FlowOutcome::Created(_)) => "committed",
            Ok(FlowOutcome::Refused { .. }) => "refused",
            Err(_) => "failed",
        });
        outcome
    }

    async fn store_flow(&self, tasks: Vec<NewFlowTask>) -> Result<FlowOutcome, StoreError> {
        let Some(first) = tasks.first() else {
            return Err(StoreError::Corrupt("a flow without tasks".into()));
        };
        let flow = FlowId::new(first.queue.clone());
        let uuid = flow.uuid.hyphenated().to_string();
        if !self
            .engine
            .run(&flow.home, write::Begin { flow: &uuid })
            .await?
        {
            return Err(StoreError::Redis("new flow id already taken".into()));
        }
        let ids: Vec<TaskId> = tasks.iter().map(|_| TaskId::new_v7()).collect();
        let queues: Vec<QueueName> = tasks.iter().map(|t| t.queue.clone()).collect();
        let mut by_queue: BTreeMap<QueueName, Vec<(TaskId, NewTask)>> = BTreeMap::new();
        let mut listed = Vec::with_capacity(tasks.len());
        let mut links = Vec::new();
        for (at, item) in tasks.into_iter().enumerate() {
            let mut task = item.task;
            let parents: Vec<DependencyRef> = item
                .after
                .iter()
                .map(|&p| DependencyRef {
                    queue: queues[p].clone(),
                    id: ids[p],
                })
                .collect();
            if !parents.is_empty() {
                links.push((item.queue.clone(), ids[at], parents.clone()));
                task.depends_on = Some(parents);
            }
            task.flow = Some(flow.clone());
            listed.push((item.queue.clone(), ids[at], item.reference));
            by_queue
                .entry(item.queue)
                .or_default()
                .push((ids[at], task));
        }
        if let Some(refused) = self.store(by_queue, &listed).await? {
            self.release(&flow, &listed, "gone").await?;
            return Ok(refused);
        }
        self.link(links).await?;
        let record = record_json(&listed);
        let commit = write::Commit {
            flow: &uuid,
            record: &record,
        };
        let Some(at) = self.engine.run(&flow.home, commit).await? else {
            return Err(StoreError::Redis(
                "the flow was not stored within its commit window; none of it will run".into(),
            ));
        };
        let states = self.release(&flow, &listed, "completed").await?;
        let tasks: Vec<FlowTask> = listed
            .into_iter()
            .zip(states)
            .map(|((queue, id, reference), state)| FlowTask {
                reference,
                queue: queue.to_string(),
                id: id.to_string(),
                state,
            })
            .collect();
        Ok(FlowOutcome::Created(Flow {
            id: flow.to_string(),
            created_at: rfc3339_ms(at),
            finished: Flow::all_finished(&tasks),
            tasks,
        }))
    }

    /// Stores every task, waiting; the first refusal, if any.
    async fn store(
        &self,
        by_queue: BTreeMap<QueueName, Vec<(TaskId, NewTask)>>,
        listed: &[(QueueName, TaskId, String)],
    ) -> Result<Option<FlowOutcome>, StoreError> {
        let mut batches = Vec::new();
        for (queue, tasks) in by_queue {
            let mut tasks = tasks.into_iter().peekable();
            while tasks.peek().is_some() {
                let chunk: Vec<(TaskId, NewTask)> = tasks.by_ref().take(BATCH_ITEMS_MAX).collect();
                batches.push((queue.clone(), chunk));
            }
        }
        let tasks = self.tasks.clone();
        let stored: Vec<Vec<(TaskId, SubmitOutcome)>> = futures_util::stream::iter(batches)
            .map(|(queue, chunk)| {
                let tasks = tasks.clone();
                async move { tasks.store_flow_chunk(&queue, chunk).await }
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        for (id, outcome) in stored.into_iter().flatten() {
            if !matches!(outcome, SubmitOutcome::Created(_)) {
                let at = listed
                    .iter()
                    .position(|(_, listed_id, _)| *listed_id == id)
                    .unwrap_or_default();
                return Ok(Some(FlowOutcome::Refused { at, outcome }));
            }
        }
        Ok(None)
    }

    /// Makes each task known to the flow's tasks it depends on.
    async fn link(
        &self,
        links: Vec<(QueueName, TaskId, Vec<DependencyRef>)>,
    ) -> Result<(), StoreError> {
        let deps = self.tasks.deps().clone();
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(links)
            .map(|(queue, id, parents)| {
                let deps = deps.clone();
                async move { deps.link_only(&queue, id, &parents).await }
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Delivers the flow's commit (`completed`) or its end (`gone`) to every task; answers each
    /// task's state after it.
    async fn release(
        &self,
        flow: &FlowId,
        listed: &[(QueueName, TaskId, String)],
        outcome: &str,
    ) -> Result<Vec<Option<TaskState>>, StoreError> {
        let mut by_queue: BTreeMap<QueueName, Vec<String>> = BTreeMap::new();
        for (queue, id, _) in listed {
            by_queue
                .entry(queue.clone())
                .or_default()
                .push(id.to_string());
        }
        let mut steps = Vec::new();
        for (queue, ids) in by_queue {
            for chunk in ids.chunks(OUTBOX_PAGE) {
                steps.push((queue.clone(), chunk.to_vec()));
            }
        }
        let (deps, home, parent) = (
            self.tasks.deps().clone(),
            flow.home.clone(),
            flow.commit_parent(),
        );
        let answers: Vec<Vec<(String, String)>> = futures_util::stream::iter(steps)
            .map(|(queue, chunk)| {
                let (deps, home, parent) = (deps.clone(), home.clone(), parent.clone());
                let outcome = outcome.to_owned();
                async move { deps.resolve(&queue, &home, &parent, &outcome, &chunk).await }
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let states: BTreeMap<String, String> = answers.into_iter().flatten().collect();
        Ok(listed
            .iter()
            .map(|(_, id, _)| {
                states
                    .get(&id.to_string())
                    .and_then(|s| TaskState::parse(s))
            })
            .collect())
    }

    /// A flow and its tasks' states now; None when there is no such flow (or it was never
    /// committed).
    pub async fn read(&self, flow: &FlowId) -> Result<Option<Flow>, StoreError> {
        let uuid = flow.uuid.hyphenated().to_string();
        let Some(text) = self
            .engine
            .run(&flow.home, read::Read { flow: &uuid })
            .await?
        else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_str::<Record>(&text) else {
            return Ok(None); // being stored, or aborted: not a flow to show
        };
        let tasks = self.states(&record.tasks).await?;
        Ok(Some(Flow {
            id: flow.to_string(),
            created_at: rfc3339_ms(record.at),
            finished: Flow::all_finished(&tasks),
            tasks,
        }))
    }

    /// Each listed task with its state now.
    async fn states(
        &self,
        listed: &[(String, String, String)],
    ) -> Result<Vec<FlowTask>, StoreError> {
        let mut by_queue: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (queue, id, _) in listed {
            by_queue.entry(queue).or_default().push(id.clone());
        }
        let reads = by_queue.iter().filter_map(|(queue, ids)| {
            let queue = QueueName::parse(queue).ok()?;
            Some(async move {
                let mut states = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(FLOW_READ_CHUNK) {
                    let words = self.engine.run(&queue, read::States { ids: chunk }).await?;
                    states.extend(chunk.iter().cloned().zip(words));
                }
                Ok::<_, StoreError>(states)
            })
        });
        let states: BTreeMap<String, Option<String>> =
            try_join_all(reads).await?.into_iter().flatten().collect();
        Ok(listed
            .iter()
            .map(|(queue, id, reference)| FlowTask {
                reference: reference.clone(),
                queue: queue.clone(),
                id: id.clone(),
                state: states
                    .get(id)
                    .and_then(|word| word.as_deref().and_then(TaskState::parse)),
            })
            .collect())
    }

    /// Cancels every unfinished task of a flow (finished ones keep their state); answers the
    /// flow after it, or None when there is no such flow.
    pub async fn cancel(&self, flow: &FlowId) -> Result<Option<Flow>, StoreError> {
        let Some(before) = self.read(flow).await? else {
            return Ok(None);
        };
        let open = before.tasks.iter().filter_map(|task| {
            let unfinished = matches!(
                task.state,
                Some(
                    TaskState::Waiting
                        | TaskState::Scheduled
                        | TaskState::Ready
                        | TaskState::Leased
                )
            );
            let queue = QueueName::parse(&task.queue).ok()?;
            let id = TaskId::parse(&task.id).ok()?;
            unfinished.then_some((queue, id))
        });
        let open: Vec<(QueueName, TaskId)> = open.collect();
        let tasks = self.tasks.clone();
        let cancels: Vec<Result<_, StoreError>> = futures_util::stream::iter(open)
            .map(|(queue, id)| {
                let tasks = tasks.clone();
                async move { tasks.cancel(&queue, id).await }
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect()
            .await;
        for cancel in cancels {
            cancel?;
        }
        self.read(flow).await
    }

    /// The sweep's part for one queue: forgets the flows kept there that none of whose tasks
    /// is left, and those never committed. Returns how many it forgot.
    pub async fn sweep(&self, queue: &QueueName) -> Result<usize, StoreError> {
        let due = self
            .engine
            .run(
                queue,
                read::Due {
                    limit: DUE_PER_SWEEP,
                },
            )
            .await?;
        let mut forgotten = 0;
        for (flow, text) in due {
            let gone = match serde_json::from_str::<Record>(&text) {
                Ok(record) => self
                    .states(&record.tasks)
                    .await?
                    .iter()
                    .all(|task| task.state.is_none()),
                // Never committed: its tasks were cancelled, and are kept (and purged) alone.
                Err(_) => true,
            };
            if gone {
                let forget = write::Forget {
                    flow: &flow,
                    record: &text,
                };
                self.engine.run(queue, forget).await?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }
}

/// Task states one script reads.
const FLOW_READ_CHUNK: usize = 1_000;

/// The record a flow is committed with; the script fills in `at`.
fn record_json(listed: &[(QueueName, TaskId, String)]) -> String {
    let tasks: Vec<(String, String, &str)> = listed
        .iter()
        .map(|(queue, id, reference)| (queue.to_string(), id.to_string(), reference.as_str()))
        .collect();
    format!(
        "{{\"at\":0,\"tasks\":{}}}",
        serde_json::to_string(&tasks).unwrap_or_default()
    )
}
