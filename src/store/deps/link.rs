//! `exists.lua` (which parents a queue does not hold), `link.lua` (a child made known to its
//! parents, in their slot) and `linked.lua` (the child's side: every link made).

use deadpool_redis::redis::Value;

use crate::model::Task;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string, optional_string};
use crate::store::script::{ScriptDef, script};

pub static EXISTS: ScriptDef = script!(
    "exists" in "deps",
    " flags=no-writes",
    keys: ["meta"],
    policy: [],
    prelude: [],
);

/// Marks parents and adds a dependent: a few bytes per link, refused whole when Redis is full.
pub static LINK: ScriptDef = script!(
    "link" in "deps",
    "",
    keys: task_keys + ["kids", "flows"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
);

/// Moves the task's next check on: changes no size.
pub static LINKED: ScriptDef = script!(
    "linked" in "deps",
    " flags=allow-oom",
    keys: task_keys,
    policy: ["lease_ms", "max_attempts"],
    prelude: ["record"],
);

/// The ids among `ids` this queue does not hold.
pub struct Exists<'a> {
    pub ids: &'a [String],
}

impl Op for Exists<'_> {
    type Outcome = Vec<String>;

    fn script(&self) -> &'static ScriptDef {
        &EXISTS
    }

    fn args(&self, a: &mut Args<'_>) {
        for id in self.ids {
            a.push(id.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<String>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        into_array(reply.next()?)?
            .into_iter()
            .map(into_string)
            .collect()
    }
}

/// A child made known to some of its parents, all in this queue.
pub struct Link<'a> {
    pub child_queue: &'a str,
    pub child: &'a str,
    pub parents: &'a [String],
}

/// A parent's answer to a link: its outcome if it has finished (or is gone).
pub type LinkAnswer = (String, Option<String>);

impl Op for Link<'_> {
    type Outcome = Vec<LinkAnswer>;

    fn script(&self) -> &'static ScriptDef {
        &LINK
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.child_queue).push(self.child);
        for parent in self.parents {
            a.push(parent.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<LinkAnswer>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut answers = Vec::new();
        while let Some(id) = items.next() {
            let outcome = items.next().unwrap_or(Value::Nil);
            answers.push((into_string(id)?, optional_string(outcome)?));
        }
        Ok(answers)
    }
}

/// Every parent of a waiting task has it as a dependent.
pub struct Linked<'a> {
    pub id: &'a str,
}

impl Op for Linked<'_> {
    type Outcome = Option<Task>;

    fn script(&self) -> &'static ScriptDef {
        &LINKED
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Option<Task>, StoreError> {
        match reply.status.as_str() {
            "ok" => Ok(reply.task()?.map(|record| record.task)),
            "not_found" => Ok(None),
            _ => Err(reply.unexpected()),
        }
    }
}
