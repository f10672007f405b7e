//! The dependencies service (SPEC §11): tasks that wait for other tasks, in any queue, so in
//! any Redis Cluster slot. No script can touch two slots, so a dependency crosses in steps,
//! each atomic in its own slot and each safe to repeat:
//!
//! 1. A waiting child is stored in its slot (`submit_one`), due for its links (`dlink`).
//! 2. `link.lua`, in each parent's slot, adds the child to the parent's dependents; a parent
//!    that has already finished answers its outcome instead, and `resolve.lua` takes it in
//!    the child's slot. `linked.lua` then moves the child's next check on.
//! 3. A parent's finish enters it in its slot's outbox in the same script
//!    (`prelude/lifecycle.lua`, `finish`); `deliver` reads the outbox page by page
//!    (`outbox.lua`), takes the outcome to each child's slot (`resolve.lua`) and only then
//!    removes the entry (`delivered.lua`).
//! 4. Each child counts each parent once (`prelude/deps.lua`, `take_outcome`), so however many
//!    instances deliver an outcome, and however often, a child is released exactly once.
//!
//! The instance that finished a parent delivers at once; the sweep delivers what is left
//! (`due.lua`: an outbox entry older than `OUTBOX_GRACE_MS`, an instance killed between the
//! steps) and re-links a waiting child every `DEPENDENCY_RECHECK_MS`, which also finds a
//! parent that is gone.

mod link;
mod outbox;
mod resolve;

pub(crate) use {
    link::{EXISTS, LINK, LINKED},
    outbox::{DELIVERED, DUE, OUTBOX},
    resolve::{RESOLVE, RESOLVE_WITH_RESULT},
};

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::try_join_all;

use super::outage::Cause;
use super::{BATCH_ITEMS_MAX, Engine, StoreError};
use crate::metrics;
use crate::model::{DependencyRef, OUTBOX_PAGE, QueueName, Task, TaskId, TaskState};

/// Outbox entries and waiting tasks one sweep of a queue delivers, of each.
const DUE_PER_SWEEP: usize = 16;

/// A test-only pause point: `TASKGATE_TEST_DELIVERY_PAUSE_MS` makes the instance that finished
/// a parent wait this long before delivering its outcome, so a test can kill it in between.
const PAUSE_VARIABLE: &str = "TASKGATE_TEST_DELIVERY_PAUSE_MS";

/// Dependencies between tasks. Cheap to clone.
#[derive(Clone)]
pub struct Dependencies {
    engine: Engine,
    pause: Option<Duration>,
}

impl Dependencies {
    pub(super) fn new(engine: Engine) -> Self {
        let pause = std::env::var(PAUSE_VARIABLE)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis);
        Self { engine, pause }
    }

    /// The parents among `parents` that do not exist, checked before a child is stored.
    pub async fn unknown(
        &self,
        parents: &[DependencyRef],
    ) -> Result<Vec<DependencyRef>, StoreError> {
        let checks = ids_by_queue(parents)
            .into_iter()
            .map(|(queue, ids)| async move {
                let mut unknown = Vec::new();
                for chunk in ids.chunks(BATCH_ITEMS_MAX) {
                    let missing = self.engine.run(&queue, link::Exists { ids: chunk }).await?;
                    unknown.extend(missing.iter().filter_map(|id| {
                        Some(DependencyRef {
                            queue: queue.clone(),
                            id: TaskId::parse(id).ok()?,
                        })
                    }));
                }
                Ok::<_, StoreError>(unknown)
            });
        Ok(try_join_all(checks).await?.into_iter().flatten().collect())
    }

    /// Makes a waiting task known to its parents and takes the outcomes of those that have
    /// finished. Answers the task as it is then (released, if they all have), or `None` when
    /// it is gone. On an error, the sweep makes the links that are left.
    pub async fn link(
        &self,
        queue: &QueueName,
        id: TaskId,
        parents: &[DependencyRef],
    ) -> Result<Option<Task>, StoreError> {
        self.link_parents(queue, &id.to_string(), ids_by_queue(parents))
            .await
    }

    /// Makes a waiting task known to its parents, and nothing else (a flow's tasks, whose
    /// parents are being stored with them and cannot have finished).
    pub(crate) async fn link_only(
        &self,
        queue: &QueueName,
        id: TaskId,
        parents: &[DependencyRef],
    ) -> Result<(), StoreError> {
        let child = id.to_string();
        let links = ids_by_queue(parents)
            .into_iter()
            .map(|(parent_queue, ids)| {
                let child = &child;
                async move {
                    for chunk in ids.chunks(BATCH_ITEMS_MAX) {
                        let op = link::Link {
                            child_queue: queue.as_str(),
                            child,
                            parents: chunk,
                        };
                        self.engine.run(&parent_queue, op).await?;
                    }
                    Ok::<_, StoreError>(())
                }
            });
        try_join_all(links).await?;
        Ok(())
    }

    /// One parent's outcome to some of its children in `queue`; answers each child's state. A
    /// child that ends there (its parent failed) and has dependents of its own passes its
    /// outcome on at once, so a failure goes down a chain without waiting for sweeps.
    pub(crate) async fn resolve(
        &self,
        queue: &QueueName,
        parent_queue: &QueueName,
        parent: &str,
        outcome: &str,
        children: &[String],
    ) -> Result<Vec<(String, Option<TaskState>)>, StoreError> {
        let op = resolve::Resolve {
            parent_queue: parent_queue.as_str(),
            parent,
            outcome,
            children,
        };
        let resolved = match self.engine.run(queue, op).await {
            // Redis is full: the outcome goes without its result (the child reads it with
            // GET), which adds next to nothing, rather than wait in the outbox, where it would
            // keep its parent from being purged and memory from being freed.
            Err(StoreError::Unavailable(why)) if why.cause == Cause::Full => {
                let Some((word, _)) = outcome.split_once(' ') else {
                    return Err(StoreError::Unavailable(why));
                };
                let op = resolve::Resolve {
                    parent_queue: parent_queue.as_str(),
                    parent,
                    outcome: &format!("{word}+"),
                    children,
                };
                self.engine.run(queue, op).await?
            }
            other => other?,
        };
        Ok(resolved
            .into_iter()
            .map(|(id, state, ended)| {
                if ended {
                    self.pass_on(queue, &id);
                }
                (id, TaskState::parse(&state))
            })
            .collect())
    }

    /// Links `child` to its parents (by queue, each its ids; a flow's commit is one, named
    /// `~<uuid>`), takes the outcomes of those that have finished, and moves its next check
    /// on. Answers the task as it is then.
    async fn link_parents(
        &self,
        queue: &QueueName,
        child: &str,
        parents: BTreeMap<QueueName, Vec<String>>,
    ) -> Result<Option<Task>, StoreError> {
        let links = parents.into_iter().map(|(parent_queue, ids)| async move {
            let mut finished = Vec::new();
            for chunk in ids.chunks(BATCH_ITEMS_MAX) {
                let answers = self
                    .engine
                    .run(
                        &parent_queue,
                        link::Link {
                            child_queue: queue.as_str(),
                            child,
                            parents: chunk,
                        },
                    )
                    .await?;
                finished.extend(answers.into_iter().filter_map(|(parent, outcome)| {
                    outcome.map(|outcome| (parent_queue.clone(), parent, outcome))
                }));
            }
            Ok::<_, StoreError>(finished)
        });
        let finished: Vec<_> = try_join_all(links).await?.into_iter().flatten().collect();
        let child = [child.to_owned()];
        for (parent_queue, parent, outcome) in &finished {
            self.resolve(queue, parent_queue, parent, outcome, &child)
                .await?;
        }
        self.engine.run(queue, link::Linked { id: &child[0] }).await
    }

    /// Delivers a finished task's outcome to the tasks that wait for it, soon, in the
    /// background: the caller's answer does not wait for its dependents' slots.
    pub fn deliver_soon(&self, queue: &QueueName, task: &Task) {
        if !task.has_dependents || !task.state.is_terminal() {
            return;
        }
        self.pass_on(queue, &task.id);
    }

    /// Delivers a task's outcome from its outbox in the background (after the test-only
    /// pause, when one is set); a failure is left to the sweep.
    fn pass_on(&self, queue: &QueueName, id: &str) {
        let (deps, queue, id) = (self.clone(), queue.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Some(pause) = deps.pause {
                tokio::time::sleep(pause).await;
            }
            if let Err(err) = deps.deliver(&queue, &id, "finisher").await {
                tracing::warn!(queue = %queue, task = %id, error = %err,
                    "delivering a task's outcome to the tasks that wait for it failed; the sweep will");
            }
        });
    }

    /// Delivers a finished task's outcome to every task that waits for it, a page of them at a
    /// time, then takes it out of the outbox. Safe to repeat, and to run in many instances.
    /// `by` is who delivers, for the metrics (`metrics::DELIVERERS`).
    pub async fn deliver(
        &self,
        queue: &QueueName,
        id: &str,
        by: &'static str,
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        // The outcome as first read: if it changes while the pages go out (a redrive and a new
        // finish), delivery starts over, so every child gets the newest one. (Not the entry's
        // score: the sweep moves that on, and a long delivery would then start over for ever.)
        let mut first_outcome = None;
        loop {
            let op = outbox::Outbox {
                id,
                after: &after,
                page: OUTBOX_PAGE,
            };
            let Some(page) = self.engine.run(queue, op).await? else {
                return Ok(());
            };
            if first_outcome.get_or_insert_with(|| page.outcome.clone()) != &page.outcome {
                (after, first_outcome) = (String::new(), None);
                continue;
            }
            let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (child_queue, child) in page.children {
                children.entry(child_queue).or_default().push(child);
            }
            let outcome = page.outcome.as_str();
            let deliveries = children.iter().filter_map(|(child_queue, ids)| {
                // A member naming no queue (written by hand) has nowhere to go.
                let child_queue = QueueName::parse(child_queue).ok()?;
                Some(async move { self.resolve(&child_queue, queue, id, outcome, ids).await })
            });
            try_join_all(deliveries).await?;
            match page.next {
                Some(next) => after = next,
                None => {
                    let done = outbox::Delivered {
                        id,
                        score: &page.score,
                    };
                    self.engine.run(queue, done).await?;
                    metrics::dependency_delivered(by);
                    return Ok(());
                }
            }
        }
    }

    /// The sweep's part for one queue: the outcomes its finished tasks have not delivered in
    /// time, and the links of its waiting tasks that are due. Returns how many of each.
    pub async fn sweep(&self, queue: &QueueName) -> Result<(usize, usize), StoreError> {
        let due = self
            .engine
            .run(
                queue,
                outbox::Due {
                    limit: DUE_PER_SWEEP,
                },
            )
            .await?;
        // One failing step (a child's slot refusing) must not stop the others: each is tried,
        // and the first error is reported once all were.
        let mut first_error = None;
        for id in &due.outbox {
            if let Err(err) = self.deliver(queue, id, "sweep").await {
                first_error.get_or_insert(err);
            }
        }
        for (child, parents) in &due.links {
            let mut by_queue: BTreeMap<QueueName, Vec<String>> = BTreeMap::new();
            for (parent_queue, parent) in parents {
                // A name that is no queue (written by hand) has nowhere to be asked.
                if let Ok(parent_queue) = QueueName::parse(parent_queue) {
                    by_queue
                        .entry(parent_queue)
                        .or_default()
                        .push(parent.clone());
                }
            }
            if let Err(err) = self.link_parents(queue, child, by_queue).await {
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok((due.outbox.len(), due.links.len())),
        }
    }
}

/// Parents by queue, each queue's ids once.
fn ids_by_queue(parents: &[DependencyRef]) -> BTreeMap<QueueName, Vec<String>> {
    let mut queues: BTreeMap<QueueName, Vec<String>> = BTreeMap::new();
    for parent in parents {
        let ids = queues.entry(parent.queue.clone()).or_default();
        let id = parent.id.to_string();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    queues
}
