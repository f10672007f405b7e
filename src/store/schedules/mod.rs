//! The schedules service (README, "Schedules"): a queue's recurring schedules, read, written
//! under `If-Match`, deleted and triggered, and fired by the sweep. One op per script:
//! `read.rs` (`read.lua`, `list.lua`), `write.rs` (`write.lua`, `delete.lua`), `fire.rs`
//! (`due.lua`, `fire.lua`).
//!
//! Redis cannot compute cron ticks in time zones, so the server decides and Redis applies:
//! the sweep reads the due schedules (found by next tick, `due.lua`), decides each one with
//! `model::schedule::plan` on the Redis clock, and fires it with `fire.lua`, which applies the
//! decision only if the schedule is still due at that tick and at the version decided on. So
//! any number of instances may decide the same tick; exactly one task comes of it.

mod fire;
mod read;
mod types;
mod write;

pub use types::*;
pub(crate) use {
    fire::{DUE, FIRE},
    read::{LIST, READ},
    write::{DELETE, WRITE, WRITE_IN_PLACE},
};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::registry::Registry;
use super::{Engine, StoreError};
use crate::metrics;
use crate::model::schedule::{ScheduleName, TaskTemplate, plan};
use crate::model::{GroupName, QueueName, TaskId};
use crate::store::tasks::{Idempotency, NewTask, Start, SubmitOutcome};
use fire::{Due, DueSchedule, Fire, FireOutcome, Occasion, tick_key};

/// Due schedules one sweep script reads (and fires, side by side).
const DUE_BATCH: usize = 64;
/// Batches of due schedules one queue's sweep fires per tick before the next queue's turn.
const DUE_BATCHES_PER_TICK: usize = 8;
/// How often a trigger re-reads a schedule that was written while it ran.
const TRIGGER_ATTEMPTS: usize = 3;
/// Schedules one mend reads, and how often a queue's are mended (per instance).
const MEND_PAGE: u32 = 50;
const MEND_EVERY: Duration = Duration::from_secs(2);

/// Per queue: when this instance last mended its schedules, and the name it got to.
type Mends = HashMap<QueueName, (Instant, Option<ScheduleName>)>;

/// A queue's schedules. Cheap to clone.
#[derive(Clone)]
pub struct Schedules {
    engine: Engine,
    registry: Registry,
    /// Where each queue's mending is (`mend_some`).
    mends: Arc<Mutex<Mends>>,
}

/// What one sweep of a queue's due schedules did.
#[derive(Debug, Default, Clone, Copy)]
pub struct FireReport {
    pub fired: u64,
    pub missed: u64,
    pub failed: u64,
    /// Schedules whose firing failed (logged; tried again at the next sweep).
    pub errors: u64,
}

impl Schedules {
    pub(super) fn new(engine: Engine, registry: Registry) -> Self {
        Self {
            engine,
            registry,
            mends: Arc::default(),
        }
    }

    /// One schedule (`None` inside when there is none), with the Redis time it was read at.
    pub async fn read(
        &self,
        queue: &QueueName,
        name: &ScheduleName,
    ) -> Result<ScheduleRead, StoreError> {
        self.engine.run(queue, read::ReadSchedule { name }).await
    }

    /// A page of the queue's schedules by name, after `after`.
    pub async fn list(
        &self,
        queue: &QueueName,
        after: Option<&ScheduleName>,
        limit: u32,
    ) -> Result<SchedulePage, StoreError> {
        let op = read::ListSchedules { after, limit };
        self.engine.run(queue, op).await
    }

    /// Creates or replaces a schedule (at `expected_version` only, when given), to fire next
    /// at its first tick after `now_ms` (the Redis time of the read this write is based on).
    /// `replaces` is the schedule as read, when it exists. Creates the queue.
    pub async fn write(
        &self,
        queue: &QueueName,
        name: &ScheduleName,
        expected_version: Option<u64>,
        record: &ScheduleRecord,
        replaces: Option<&ScheduleState>,
        now_ms: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let op = write::WriteSchedule {
            name,
            replaces_bytes: replaces.map(|state| state.stored_bytes),
            keeps_cadence: replaces.is_some_and(|state| state.record.ticks_like(record)),
            expected_version,
            record,
            next: record.next_after(now_ms),
        };
        let outcome = self.engine.run(queue, op).await?;
        if matches!(outcome, WriteOutcome::Written { .. }) {
            self.registry.note_queue(queue);
        }
        Ok(outcome)
    }

    /// Deletes a schedule (at `expected_version` only, when given). No tick fires after it.
    pub async fn delete(
        &self,
        queue: &QueueName,
        name: &ScheduleName,
        expected_version: Option<u64>,
    ) -> Result<DeleteOutcome, StoreError> {
        let op = write::DeleteSchedule {
            name,
            expected_version,
        };
        self.engine.run(queue, op).await
    }

    /// Runs a schedule once now, its ticks unchanged: its task is submitted as a tick's is,
    /// without an idempotency key (each trigger is a run of its own).
    pub async fn trigger(
        &self,
        queue: &QueueName,
        name: &ScheduleName,
    ) -> Result<TriggerOutcome, StoreError> {
        for _ in 0..TRIGGER_ATTEMPTS {
            let read = self.read(queue, name).await?;
            let state = match read.schedule {
                None => return Ok(TriggerOutcome::NotFound),
                Some(Stored::Unreadable { .. }) => return Ok(TriggerOutcome::Unreadable),
                Some(Stored::Readable(state)) => state,
            };
            let task = new_task(&state.record.def.task, None);
            let payload_bytes = task.payload.get().len();
            let op = Fire {
                name,
                occasion: Occasion::Trigger,
                version: state.version,
                run: Some((read.now_ms, TaskId::new_v7(), task)),
                missed: 0,
                next: None,
            };
            match self.engine.run(queue, op).await? {
                FireOutcome::Ran(Some(outcome)) => {
                    let _ = count(queue, &outcome, "triggered");
                    return Ok(TriggerOutcome::Ran {
                        outcome,
                        payload_bytes,
                    });
                }
                FireOutcome::Gone => return Ok(TriggerOutcome::NotFound),
                // Written between the read and the run: read it again.
                FireOutcome::Moved | FireOutcome::Ran(None) => {}
            }
        }
        Ok(TriggerOutcome::Busy)
    }

    /// Fires the queue's due schedules (the sweep's part): up to `DUE_BATCHES_PER_TICK`
    /// batches of `DUE_BATCH`, each decided here and fired side by side.
    pub async fn fire_due(&self, queue: &QueueName) -> Result<FireReport, StoreError> {
        let mut report = FireReport::default();
        for _ in 0..DUE_BATCHES_PER_TICK {
            let (now, due) = self.engine.run(queue, Due { limit: DUE_BATCH }).await?;
            let full = due.len() == DUE_BATCH;
            let runs = due
                .iter()
                .map(|schedule| self.fire_one(queue, schedule, now));
            for (schedule, result) in due.iter().zip(join_all(runs).await) {
                match result {
                    Ok((fired, missed, failed)) => {
                        report.fired += fired;
                        report.missed += missed;
                        report.failed += failed;
                    }
                    // Redis is away: the whole sweep stops, as any of its calls would.
                    Err(err @ StoreError::Unavailable(_)) => return Err(err),
                    // One schedule's failure is its own: the others of the batch still fire.
                    Err(err) => {
                        tracing::warn!(queue = %queue, schedule = %schedule.name, error = %err, "firing a schedule failed; it is tried again at the next sweep");
                        report.errors += 1;
                    }
                }
            }
            // A batch with failures is not followed by another: the same schedules, still due,
            // would come first again.
            if !full || report.errors > 0 {
                break;
            }
        }
        metrics::schedule_runs("missed", report.missed);
        Ok(report)
    }

    /// Mends the next page of the queue's schedules, at most every `MEND_EVERY`: one that
    /// should be due (readable, not paused, with a tick to come) but has no entry in the due set
    /// (deleted under it, say by a `DEL` of the key) goes back in, at its next tick, so a lost
    /// index heals within a pass over the schedules. The sweep's part, after `fire_due`.
    pub async fn mend_some(&self, queue: &QueueName) -> Result<(), StoreError> {
        let after = {
            let Ok(mut mends) = self.mends.lock() else {
                return Ok(());
            };
            if mends.len() > 10_000 {
                mends.clear();
            }
            match mends.get(queue) {
                Some((at, _)) if at.elapsed() < MEND_EVERY => return Ok(()),
                Some((_, after)) => after.clone(),
                None => None,
            }
        };
        let page = self.list(queue, after.as_ref(), MEND_PAGE).await?;
        if let Ok(mut mends) = self.mends.lock() {
            mends.insert(queue.clone(), (Instant::now(), page.next.clone()));
        }
        let lost = page.schedules.iter().filter_map(|state| {
            let next = state.record.next_after(page.now_ms);
            (state.next_due.is_none() && next.is_some()).then_some((state, next))
        });
        let mends = lost.map(|(state, next)| {
            tracing::warn!(queue = %queue, schedule = %state.name, "a schedule was missing from the due set; it is due again at its next tick");
            let op = Fire {
                name: &state.name,
                occasion: Occasion::Mend,
                version: state.version,
                run: None,
                missed: 0,
                next,
            };
            self.engine.run(queue, op)
        });
        for result in join_all(mends).await {
            result?;
        }
        Ok(())
    }

    /// Decides and fires one due schedule. Returns (tasks fired, ticks missed, runs failed).
    async fn fire_one(
        &self,
        queue: &QueueName,
        schedule: &DueSchedule,
        now: i64,
    ) -> Result<(u64, u64, u64), StoreError> {
        let name = &schedule.name;
        let occasion = Occasion::Tick { due: schedule.due };
        let op = match &schedule.stored {
            Stored::Readable(state) => match state.record.cadence() {
                Ok(cadence) => {
                    let def = &state.record.def;
                    let plan = plan(
                        &cadence,
                        state.record.window(),
                        def.catch_up,
                        schedule.due,
                        now,
                    );
                    let run = plan.fire.map(|tick| {
                        let key = Idempotency {
                            key: tick_key(name, tick),
                            fingerprint: "schedule".to_owned(),
                        };
                        (tick, TaskId::new_v7(), new_task(&def.task, Some(key)))
                    });
                    Fire {
                        name,
                        occasion,
                        version: state.version,
                        run,
                        missed: plan.missed,
                        next: plan.next,
                    }
                }
                Err(why) => stop_firing(queue, name, state.version, occasion, &why),
            },
            Stored::Unreadable { version, why } => {
                stop_firing(queue, name, *version, occasion, why)
            }
        };
        let missed = op.missed;
        match self.engine.run(queue, op).await? {
            FireOutcome::Ran(Some(outcome)) => {
                let (fired, failed) = count(queue, &outcome, "fired");
                Ok((fired, missed, failed))
            }
            FireOutcome::Ran(None) => Ok((0, missed, 0)),
            FireOutcome::Moved | FireOutcome::Gone => Ok((0, 0, 0)),
        }
    }
}

/// The run that takes a schedule that cannot be fired (its record does not read) out of the
/// due set, so the sweep does not decide it again every tick; it stays, to be replaced or
/// deleted. Logged once, here.
fn stop_firing<'a>(
    queue: &QueueName,
    name: &'a ScheduleName,
    version: u64,
    occasion: Occasion,
    why: &str,
) -> Fire<'a> {
    tracing::warn!(queue = %queue, schedule = %name, why, "a schedule cannot be fired; it waits to be replaced or deleted");
    Fire {
        name,
        occasion,
        version,
        run: None,
        missed: 0,
        next: None,
    }
}

/// Counts a run's outcome: (tasks submitted, runs refused). A replayed tick's task was
/// counted when it was created.
fn count(queue: &QueueName, outcome: &SubmitOutcome, kind: &'static str) -> (u64, u64) {
    match outcome {
        SubmitOutcome::Created(_) => {
            metrics::schedule_runs(kind, 1);
            metrics::transition(queue.as_str(), "submitted", 1);
            (1, 0)
        }
        SubmitOutcome::Replayed(_) | SubmitOutcome::Debounced(_) => (0, 0),
        refused => {
            tracing::warn!(queue = %queue, ?refused, "a schedule's run was refused; the schedule goes on with its next tick");
            metrics::schedule_runs("failed", 1);
            (0, 1)
        }
    }
}

/// The task a schedule's run submits.
fn new_task(template: &TaskTemplate, idempotency: Option<Idempotency>) -> NewTask {
    NewTask {
        payload: template.payload.clone(),
        priority: template.priority,
        start: template.delay_ms.map_or(Start::Now, Start::AfterMs),
        max_attempts: template.max_attempts,
        lease_ms: template.lease_ms,
        start_within_ms: template.start_within_ms,
        group: template
            .group
            .as_deref()
            .and_then(|g| GroupName::parse(g).ok()),
        requires: template.requires.clone(),
        debounce: None,
        depends_on: None,
        on_dependency_failure: Default::default(),
        flow: None,
        idempotency,
    }
}
