//! `due.lua` (the schedules whose tick has come) and `fire.lua` (one run of one schedule): how
//! the sweep fires schedules, and how a trigger runs one now.

use super::read::parse_entry;
use super::types::Stored;
use crate::model::TaskId;
use crate::model::schedule::ScheduleName;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_int, into_string};
use crate::store::script::{ScriptDef, script};
use crate::store::tasks::{NewTask, SubmitOutcome, push_task, read_outcome};

pub static DUE: ScriptDef = script!(
    "due" in "schedules",
    " flags=allow-oom",
    keys: ["schedules", "sdue"],
    policy: [],
    prelude: [],
);

/// Adds a task: refused whole when Redis is out of memory (the tick stays due, and is decided
/// again by a later sweep).
pub static FIRE: ScriptDef = script!(
    "fire" in "schedules",
    "",
    keys: task_keys + ["idempotency", "idempotency_expiry", "schedules", "sdue", "sruns"],
    policy: lifecycle + ["max_payload_bytes", "dedup_window_ms"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "submit_one"],
);

/// Up to `limit` schedules due now, oldest tick first: (name, due tick, stored entry).
pub struct Due {
    pub limit: usize,
}

/// A schedule whose tick has come, as the sweep reads it.
pub struct DueSchedule {
    pub due: i64,
    pub stored: Stored,
    pub name: ScheduleName,
}

impl Op for Due {
    type Outcome = (i64, Vec<DueSchedule>);

    fn script(&self) -> &'static ScriptDef {
        &DUE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.limit);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(i64, Vec<DueSchedule>), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut due = Vec::new();
        while let (Some(name), Some(tick), Some(entry)) = (items.next(), items.next(), items.next())
        {
            let Ok(name) = ScheduleName::parse(&into_string(name)?) else {
                continue;
            };
            let tick = into_int(tick)?;
            let stored = parse_entry(&name, &into_string(entry)?, None, Some(tick));
            due.push(DueSchedule {
                due: tick,
                stored,
                name,
            });
        }
        Ok((reply.now_ms, due))
    }
}

/// What a run is for.
#[derive(Debug, Clone, Copy)]
pub enum Occasion {
    /// The schedule's tick that came due at this time (its place in the due set).
    Tick { due: i64 },
    /// A trigger: run once now, the schedule's ticks unchanged.
    Trigger,
    /// A mend: the schedule should be due but is missing from the due set (its entry was
    /// deleted under it); it goes back, at its next tick.
    Mend,
}

/// One run of a schedule, decided on its `version`.
pub struct Fire<'a> {
    pub name: &'a ScheduleName,
    pub occasion: Occasion,
    pub version: u64,
    /// The tick to run and its task, or `None` when the ticks were missed and are skipped.
    pub run: Option<(i64, TaskId, NewTask)>,
    pub missed: u64,
    /// The tick to wait for next (`None`: the schedule has ended). Ignored for a trigger.
    pub next: Option<i64>,
}

/// How a run ended.
#[derive(Debug)]
pub enum FireOutcome {
    /// Ran: the submit's outcome, when there was a task to submit.
    Ran(Option<SubmitOutcome>),
    /// Another instance fired this tick first, or the schedule was written since it was read.
    Moved,
    /// The schedule was deleted.
    Gone,
}

/// The idempotency key of a tick's task: the schedule and the tick. It starts with a control
/// character, which an `Idempotency-Key` header cannot hold, so no producer's key can match it.
pub fn tick_key(name: &ScheduleName, tick: i64) -> String {
    format!("\u{1f}schedule {name} {tick}")
}

impl Op for Fire<'_> {
    type Outcome = FireOutcome;

    fn script(&self) -> &'static ScriptDef {
        &FIRE
    }

    fn args(&self, a: &mut Args<'_>) {
        let (mode, due) = match self.occasion {
            Occasion::Tick { due } => ("tick", Some(due)),
            Occasion::Trigger => ("trigger", None),
            Occasion::Mend => ("tick", None),
        };
        a.push(self.name.as_str())
            .push(mode)
            .opt(due)
            .push(self.version)
            .opt(self.run.as_ref().map(|(tick, _, _)| *tick))
            .push(self.missed)
            .opt(self.next);
        if let Some((_, id, task)) = &self.run {
            push_task(a, *id, task);
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<FireOutcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {}
            "moved" => return Ok(FireOutcome::Moved),
            "gone" => return Ok(FireOutcome::Gone),
            _ => return Err(reply.unexpected()),
        }
        let status = reply.string()?;
        let value = reply.next()?;
        let policy_max_attempts = reply.u32()?;
        match self.run {
            Some((_, id, task)) if status != "none" => {
                let outcome = read_outcome(reply, &status, value, id, task, policy_max_attempts)?;
                Ok(FireOutcome::Ran(Some(outcome)))
            }
            _ => Ok(FireOutcome::Ran(None)),
        }
    }
}
