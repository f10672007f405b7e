//! `resolve.lua`: one parent's outcome reaches some of its children, all in one queue.

use deadpool_redis::redis::Value;

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::script::{ScriptDef, script};

/// Keeps the outcome (and a result within the child's budget): adds data, refused whole when
/// Redis is full (the outcome stays in the parent's outbox, delivered when there is room).
pub static RESOLVE: ScriptDef = script!(
    "resolve" in "deps",
    "",
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

impl Op for Resolve<'_> {
    /// Each child's state after it (or `not_found`).
    type Outcome = Vec<(String, String)>;

    fn script(&self) -> &'static ScriptDef {
        &RESOLVE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.parent_queue)
            .push(self.parent)
            .push(self.outcome);
        for child in self.children {
            a.push(child.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<(String, String)>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut states = Vec::new();
        while let Some(id) = items.next() {
            let state = items.next().unwrap_or(Value::Nil);
            states.push((into_string(id)?, into_string(state)?));
        }
        Ok(states)
    }
}
