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
mod stage;
mod write;

pub(crate) use {
    read::{DUE, READ, STATES},
    write::{ABORT, BEGIN, COMMIT, DISCARD, FORGET},
};

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::future::try_join_all;
use serde::Deserialize;

use super::tasks::{Idempotency, NewTask, SubmitOutcome, Tasks};
use super::{Engine, StoreError};
use crate::metrics;
use crate::model::{Flow, FlowId, FlowTask, QueueName, TaskId, TaskState, rfc3339_ms};

/// Scripts a flow's storing (or cancelling) runs at once.
const CONCURRENT_STEPS: usize = 16;
/// Flows one sweep of a queue checks.
const DUE_PER_SWEEP: usize = 8;

/// One task of a flow to store: its reference, queue, the task, and the places (in the flow's
/// list) of the tasks it depends on.
#[derive(Debug)]
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
    /// A repeat of an earlier flow's idempotency key: that flow, as it is now.
    Replayed(Flow),
    /// The idempotency key was used, within its window, for another request (that flow's id).
    KeyReused {
        first: String,
    },
    /// The idempotency key names a flow still being stored by another call (one that failed
    /// lets its key go; one whose taking back failed keeps it until its dedup window ends).
    KeyPending {
        first: String,
    },
    /// A task was refused by its queue (its payload over the queue's cap, too many requirement
    /// sets): the flow is not committed, and the tasks stored so far are erased.
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
    pub async fn submit(
        &self,
        tasks: Vec<NewFlowTask>,
        idempotency: Option<&Idempotency>,
    ) -> Result<FlowOutcome, StoreError> {
        // Stored by a task of its own, so a caller that goes away (a client that disconnects,
        // a request timeout) never leaves a flow half stored: it is committed, or taken back.
        let flows = self.clone();
        let idempotency = idempotency.cloned();
        let outcome =
            tokio::spawn(async move { flows.store_flow(tasks, idempotency.as_ref()).await })
                .await
                .unwrap_or_else(|e| {
                    Err(StoreError::Redis(format!("storing the flow stopped: {e}")))
                });
        let counted = match &outcome {
            Ok(FlowOutcome::Created(_)) => Some("committed"),
            Ok(FlowOutcome::Refused { .. }) => Some("refused"),
            Err(_) => Some("failed"),
            Ok(_) => None, // a repeat, not a flow of its own
        };
        if let Some(outcome) = counted {
            metrics::flow(outcome);
        }
        outcome
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
        let words = self.stored_states(listed).await?;
        Ok(listed
            .iter()
            .map(|(queue, id, reference)| FlowTask {
                reference: reference.clone(),
                queue: queue.clone(),
                id: id.clone(),
                state: words
                    .get(id)
                    .and_then(|word| word.as_deref().and_then(TaskState::parse)),
            })
            .collect())
    }

    /// Each listed task's stored state word (`unreadable` for a record that does not read),
    /// or None when it is not stored: a read per queue.
    async fn stored_states(
        &self,
        listed: &[(String, String, String)],
    ) -> Result<BTreeMap<String, Option<String>>, StoreError> {
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
        Ok(try_join_all(reads).await?.into_iter().flatten().collect())
    }

    /// Whether any listed task is still stored (a record that does not read counts: it is
    /// there until it is purged).
    async fn any_left(&self, listed: &[(String, String, String)]) -> Result<bool, StoreError> {
        let words = self.stored_states(listed).await?;
        Ok(words.values().any(Option::is_some))
    }

    /// Cancels every unfinished task of a flow (finished ones keep their state); answers the
    /// flow after it, or None when there is no such flow.
    pub async fn cancel(&self, flow: &FlowId) -> Result<Option<Flow>, StoreError> {
        let Some(before) = self.read(flow).await? else {
            return Ok(None);
        };
        let open = before.tasks.iter().filter_map(|task| {
            let unfinished = task.state.is_some_and(|state| !state.is_terminal());
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
                Ok(record) => !self.any_left(&record.tasks).await?,
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
