//! `outbox.lua` (a finished task's outcome and a page of its dependents), `delivered.lua` (its
//! outbox entry done with) and `due.lua` (what the sweep delivers).

use deadpool_redis::redis::Value;

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string, optional_string};
use crate::store::script::{ScriptDef, script};

/// Reads; drops a stale entry (only shrinks).
pub static OUTBOX: ScriptDef = script!(
    "outbox" in "deps",
    " flags=allow-oom",
    keys: task_keys + ["kids"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
);

pub static DELIVERED: ScriptDef = script!(
    "delivered" in "deps",
    " flags=allow-oom",
    keys: ["outbox"],
    policy: [],
    prelude: [],
);

/// Reads, and moves due entries on (changes no size; a task whose parents were lost ends).
pub static DUE: ScriptDef = script!(
    "due" in "deps",
    " flags=allow-oom",
    keys: task_keys,
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle"],
);

/// A page of a finished task's dependents.
pub struct Outbox<'a> {
    pub id: &'a str,
    /// The last member of the previous page, or "".
    pub after: &'a str,
    pub page: usize,
}

/// What a finished task tells a page of its dependents.
pub struct OutboxPage {
    /// Its outbox entry's score, to take it out once every page is delivered.
    pub score: String,
    pub outcome: String,
    /// (child queue, child id).
    pub children: Vec<(String, String)>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

impl Op for Outbox<'_> {
    /// None when there is nothing to deliver.
    type Outcome = Option<OutboxPage>;

    fn script(&self) -> &'static ScriptDef {
        &OUTBOX
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id).push(self.after).push(self.page);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Option<OutboxPage>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let Some(score) = optional_string(reply.next()?)? else {
            return Ok(None);
        };
        let outcome = reply.string()?;
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut children = Vec::new();
        while let Some(queue) = items.next() {
            let id = items.next().unwrap_or(Value::Nil);
            children.push((into_string(queue)?, into_string(id)?));
        }
        let next = optional_string(reply.next_or_nil())?;
        Ok(Some(OutboxPage {
            score,
            outcome,
            children,
            next,
        }))
    }
}

/// A finished task's outcome has reached all its dependents.
pub struct Delivered<'a> {
    pub id: &'a str,
    pub score: &'a str,
}

impl Op for Delivered<'_> {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &DELIVERED
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id).push(self.score);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok(())
    }
}

/// What the sweep delivers for one queue, at most `limit` of each kind.
pub struct Due {
    pub limit: usize,
}

/// Finished tasks whose outcome is overdue, and waiting tasks due for their links, each with
/// the parents (queue, id) it has not heard from.
pub struct DueWork {
    pub outbox: Vec<String>,
    pub links: Vec<(String, Vec<(String, String)>)>,
}

impl Op for Due {
    type Outcome = DueWork;

    fn script(&self) -> &'static ScriptDef {
        &DUE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.limit);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<DueWork, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let outbox = into_array(reply.next()?)?
            .into_iter()
            .map(into_string)
            .collect::<Result<_, _>>()?;
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut links = Vec::new();
        while let Some(id) = items.next() {
            let mut flat = into_array(items.next().unwrap_or(Value::Nil))?.into_iter();
            let mut parents = Vec::new();
            while let (Some(queue), Some(parent)) = (flat.next(), flat.next()) {
                parents.push((into_string(queue)?, into_string(parent)?));
            }
            links.push((into_string(id)?, parents));
        }
        Ok(DueWork { outbox, links })
    }
}
