//! Storing a flow (the steps `mod.rs` describes): begin its record, store every task waiting
//! for the flow's commit, link them, commit, and deliver the commit to each task; on a
//! refusal or an error before the commit, take the tasks back (erase them), so none of it runs.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use super::{CONCURRENT_STEPS, FlowOutcome, Flows, NewFlowTask, write};
use crate::model::{
    DependencyRef, Flow, FlowId, FlowTask, OUTBOX_PAGE, QueueName, TaskId, TaskState, rfc3339_ms,
};
use crate::store::tasks::{Idempotency, NewTask, SubmitOutcome};
use crate::store::{BATCH_ITEMS_MAX, StoreError};

impl Flows {
    pub(super) async fn store_flow(
        &self,
        tasks: Vec<NewFlowTask>,
        idempotency: Option<&Idempotency>,
    ) -> Result<FlowOutcome, StoreError> {
        let Some(first) = tasks.first() else {
            return Err(StoreError::Corrupt("a flow without tasks".into()));
        };
        let flow = FlowId::new(first.queue.clone());
        let uuid = flow.uuid.hyphenated().to_string();
        let begin = write::Begin {
            flow: &uuid,
            idempotency,
        };
        match self.engine.run(&flow.home, begin).await? {
            write::Begun::Started => {}
            write::Begun::Exists => {
                return Err(StoreError::Redis("new flow id already taken".into()));
            }
            write::Begun::Replayed(first) => return self.replay(&flow.home, &first).await,
            write::Begun::KeyReused(first) => {
                let first = FlowId::parse(&format!("{}~{first}", flow.home))
                    .map_or(first, |id| id.to_string());
                return Ok(FlowOutcome::KeyReused { first });
            }
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
        let key = idempotency.map_or("", |i| i.key.as_str());
        let committed = self.stage_and_commit(&flow, by_queue, &listed, links).await;
        let at = match committed {
            Ok(Ok(at)) => at,
            // Not committed, and never will be: none of it may run, so what was stored goes.
            Ok(Err(refused)) => {
                // Refused before the commit was tried: it cannot have been committed.
                self.take_back(&flow, &listed, key).await?;
                return Ok(refused);
            }
            Err(err) => match self.take_back(&flow, &listed, key).await {
                // The commit ran after all (its reply was lost): the flow stands, as stored.
                Ok(true) => {
                    let states = self.release(&flow, &listed).await;
                    return match self.read(&flow).await {
                        Ok(Some(read)) if states.is_ok() => Ok(FlowOutcome::Created(read)),
                        _ => Err(err),
                    };
                }
                Ok(false) => return Err(err),
                Err(also) => {
                    tracing::warn!(flow = %flow, error = %also, "taking back a flow that failed \
                        failed too; its tasks are cancelled once its commit window has passed");
                    return Err(err);
                }
            },
        };
        // Committed: the flow is stored whatever happens now. A release that fails is left to
        // the sweep's re-link of each task, which finds the commit; the tasks wait until then.
        let states = match self.release(&flow, &listed).await {
            Ok(states) => states,
            Err(err) => {
                tracing::warn!(flow = %flow, error = %err,
                    "releasing a committed flow's tasks failed; the sweep will");
                vec![Some(TaskState::Waiting); listed.len()]
            }
        };
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

    /// Stores the tasks, links them and commits the flow: when it was begun, or the refusal
    /// that stopped it (an error, or a commit window passed, is an error).
    async fn stage_and_commit(
        &self,
        flow: &FlowId,
        by_queue: BTreeMap<QueueName, Vec<(TaskId, NewTask)>>,
        listed: &[(QueueName, TaskId, String)],
        links: Vec<(QueueName, TaskId, Vec<DependencyRef>)>,
    ) -> Result<Result<i64, FlowOutcome>, StoreError> {
        if let Some(refused) = self.store(by_queue, listed).await? {
            return Ok(Err(refused));
        }
        self.link(links).await?;
        let uuid = flow.uuid.hyphenated().to_string();
        let record = record_json(listed);
        let commit = write::Commit {
            flow: &uuid,
            record: &record,
        };
        match self.engine.run(&flow.home, commit).await? {
            Some(at) => Ok(Ok(at)),
            None => Err(StoreError::Redis(
                "the flow was not stored within its commit window; none of it will run".into(),
            )),
        }
    }

    /// A flow that will not be committed: marked aborted (its key let go), and the tasks it
    /// stored erased. Answers true, changing nothing, when the flow turns out to be committed
    /// (the commit ran, but its reply was lost): then it stands.
    async fn take_back(
        &self,
        flow: &FlowId,
        listed: &[(QueueName, TaskId, String)],
        key: &str,
    ) -> Result<bool, StoreError> {
        let uuid = flow.uuid.hyphenated().to_string();
        let abort = |forget| write::Abort {
            flow: &uuid,
            key,
            forget,
        };
        if self.engine.run(&flow.home, abort(false)).await? {
            return Ok(true);
        }
        let commit = flow.commit_parent();
        for (queue, ids) in ids_by_queue(listed) {
            for chunk in ids.chunks(OUTBOX_PAGE) {
                let discard = write::Discard {
                    commit: &commit,
                    ids: chunk,
                };
                self.engine.run(&queue, discard).await?;
            }
        }
        self.engine.run(&flow.home, abort(true)).await
    }

    /// The answer to a repeat of a flow's idempotency key: the flow, if it was stored.
    async fn replay(&self, home: &QueueName, first: &str) -> Result<FlowOutcome, StoreError> {
        let Ok(id) = FlowId::parse(&format!("{home}~{first}")) else {
            return Err(StoreError::Corrupt(format!("a flow key names {first:?}")));
        };
        Ok(match self.read(&id).await? {
            Some(flow) => FlowOutcome::Replayed(flow),
            None => FlowOutcome::KeyPending {
                first: id.to_string(),
            },
        })
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

    /// Delivers the flow's commit to every task; answers each task's state after it.
    async fn release(
        &self,
        flow: &FlowId,
        listed: &[(QueueName, TaskId, String)],
    ) -> Result<Vec<Option<TaskState>>, StoreError> {
        let mut steps = Vec::new();
        for (queue, ids) in ids_by_queue(listed) {
            for chunk in ids.chunks(OUTBOX_PAGE) {
                steps.push((queue.clone(), chunk.to_vec()));
            }
        }
        let (deps, home, parent) = (
            self.tasks.deps().clone(),
            flow.home.clone(),
            flow.commit_parent(),
        );
        let answers: Vec<Vec<(String, Option<TaskState>)>> = futures_util::stream::iter(steps)
            .map(|(queue, chunk)| {
                let (deps, home, parent) = (deps.clone(), home.clone(), parent.clone());
                async move {
                    deps.resolve(&queue, &home, &parent, "completed", &chunk)
                        .await
                }
            })
            .buffer_unordered(CONCURRENT_STEPS)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let states: BTreeMap<String, Option<TaskState>> = answers.into_iter().flatten().collect();
        Ok(listed
            .iter()
            .map(|(_, id, _)| states.get(&id.to_string()).copied().flatten())
            .collect())
    }
}

/// A flow's task ids by queue.
fn ids_by_queue(listed: &[(QueueName, TaskId, String)]) -> BTreeMap<QueueName, Vec<String>> {
    let mut by_queue: BTreeMap<QueueName, Vec<String>> = BTreeMap::new();
    for (queue, id, _) in listed {
        by_queue
            .entry(queue.clone())
            .or_default()
            .push(id.to_string());
    }
    by_queue
}

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
