//! `resolve.lua`: one parent's outcome reaches some of its children, all in one queue.

use deadpool_redis::redis::Value;

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_int, into_string};
use crate::store::script::{ScriptDef, script};

/// Keeps an outcome with its result: adds data, refused whole when Redis is full (the caller
/// then sends it without the result).
pub static RESOLVE_WITH_RESULT: ScriptDef = script!(
    "resolve" in "deps",
    "",
    keys: task_keys + ["kids"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
);

/// Keeps an outcome without a result: a few bytes per child, and it lets their waits end and
/// their parents be purged, so it runs while Redis is full (as an ack does).
pub static RESOLVE: ScriptDef = script!(
    "resolve" in "deps",
    " flags=allow-oom",
    keys: task_keys + ["kids"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
);

pub struct Resolve<'a> {
    pub parent_queue: &'a str,
    pub parent: &'a str,
    /// As `link.lua` and `outbox.lua` answer it: `<state>`, `<state> <result>`, `<state>+`.
    pub outcome: &'a str,
    pub children: &'a [String],
}

/// A child after an outcome reached it: its id, its state (or `not_found`), and whether it
/// ended there with dependents of its own to tell (its outcome is in its outbox).
pub type Resolved = (String, String, bool);

impl Op for Resolve<'_> {
    type Outcome = Vec<Resolved>;

    fn script(&self) -> &'static ScriptDef {
        if self.outcome.contains(' ') {
            &RESOLVE_WITH_RESULT
        } else {
            &RESOLVE
        }
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.parent_queue)
            .push(self.parent)
            .push(self.outcome);
        for child in self.children {
            a.push(child.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<Resolved>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut states = Vec::new();
        while let Some(id) = items.next() {
            let state = into_string(items.next().unwrap_or(Value::Nil))?;
            let ended = into_int(items.next().unwrap_or(Value::Nil))? == 1;
            states.push((into_string(id)?, state, ended));
        }
        Ok(states)
    }
}
