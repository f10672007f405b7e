//! `read.lua` (one schedule, with its runs' task states) and `list.lua` (a page by name): the
//! reads, and the reading of a stored entry (`<version> <record JSON>`) they share with the
//! sweep's `due.lua`.

use super::types::{RunLog, SchedulePage, ScheduleRead, ScheduleState, Stored};
use crate::model::schedule::ScheduleName;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string, optional_int, optional_string};
use crate::store::script::{ScriptDef, script};

pub static READ: ScriptDef = script!(
    "read" in "schedules",
    " flags=allow-oom",
    keys: ["schedules", "sruns", "sdue", "meta"],
    policy: [],
    prelude: [],
);

pub static LIST: ScriptDef = script!(
    "list" in "schedules",
    " flags=allow-oom",
    keys: ["schedules", "snames", "sdue", "sruns"],
    policy: [],
    prelude: [],
);

/// Reads a stored entry. A version that does not read is version 0 (a write may replace it).
pub(super) fn parse_entry(
    name: &ScheduleName,
    entry: &str,
    runs: Option<&str>,
    next_due: Option<i64>,
) -> Stored {
    let (version, json) = entry.split_once(' ').unwrap_or((entry, ""));
    let version = version.parse().unwrap_or(0);
    let record = match serde_json::from_str(json) {
        Ok(record) => record,
        Err(err) => {
            return Stored::Unreadable {
                version,
                why: format!("the schedule's record does not read: {err}"),
            };
        }
    };
    let runs = runs
        .and_then(|text| serde_json::from_str::<RunLog>(text).ok())
        .unwrap_or_default();
    Stored::Readable(Box::new(ScheduleState {
        name: name.clone(),
        version,
        record,
        runs,
        next_due,
        stored_bytes: json.len(),
    }))
}

pub struct ReadSchedule<'a> {
    pub name: &'a ScheduleName,
}

impl Op for ReadSchedule<'_> {
    type Outcome = ScheduleRead;

    fn script(&self) -> &'static ScriptDef {
        &READ
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.name.as_str());
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<ScheduleRead, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let entry = optional_string(reply.next()?)?;
        let runs = optional_string(reply.next()?)?;
        let next_due = optional_int(reply.next()?)?;
        let states = into_array(reply.next()?)?
            .into_iter()
            .map(into_string)
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = entry.map(|entry| {
            let mut stored = parse_entry(self.name, &entry, runs.as_deref(), next_due);
            if let Stored::Readable(state) = &mut stored {
                for (run, state) in state.runs.runs.iter_mut().zip(states) {
                    run.state = Some(state).filter(|s| !s.is_empty());
                }
            }
            stored
        });
        Ok(ScheduleRead {
            now_ms: reply.now_ms,
            schedule,
        })
    }
}

pub struct ListSchedules<'a> {
    pub after: Option<&'a ScheduleName>,
    pub limit: u32,
}

impl Op for ListSchedules<'_> {
    type Outcome = SchedulePage;

    fn script(&self) -> &'static ScriptDef {
        &LIST
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.after.map_or("", ScheduleName::as_str))
            .push(self.limit);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<SchedulePage, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let items = into_array(reply.next()?)?;
        let more = reply.int()? == 1;
        let mut schedules = Vec::with_capacity(items.len() / 4);
        let mut last = None;
        let mut items = items.into_iter();
        while let (Some(name), Some(entry), Some(due), Some(runs)) =
            (items.next(), items.next(), items.next(), items.next())
        {
            let name = into_string(name)?;
            let Ok(name) = ScheduleName::parse(&name) else {
                continue;
            };
            last = Some(name.clone());
            // A page lists what reads; an unreadable one is still reachable by name.
            let runs = optional_string(runs)?;
            if let Stored::Readable(state) = parse_entry(
                &name,
                &into_string(entry)?,
                runs.as_deref(),
                optional_int(due)?,
            ) {
                schedules.push(*state);
            }
        }
        Ok(SchedulePage {
            now_ms: reply.now_ms,
            schedules,
            next: last.filter(|_| more),
        })
    }
}
