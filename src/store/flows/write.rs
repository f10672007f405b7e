//! `begin.lua`, `commit.lua` and `forget.lua`: a flow's record, from its first task stored to
//! its commit, and forgotten once none of its tasks is left.

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};

/// Adds a record: refused whole when Redis is full (then nothing of the flow is stored).
pub static BEGIN: ScriptDef = script!(
    "begin" in "flows",
    "",
    keys: ["flows", "fcheck"],
    policy: [],
    prelude: [],
);

/// Rewrites the record with the flow's task list: adds data.
pub static COMMIT: ScriptDef = script!(
    "commit" in "flows",
    "",
    keys: ["flows", "fcheck", "policy"],
    policy: ["completed_ttl_ms", "dead_ttl_ms"],
    prelude: [],
);

/// Only shrinks.
pub static FORGET: ScriptDef = script!(
    "forget" in "flows",
    " flags=allow-oom",
    keys: ["flows", "fcheck"],
    policy: [],
    prelude: [],
);

pub struct Begin<'a> {
    pub flow: &'a str,
}

impl Op for Begin<'_> {
    /// False when a flow of that id exists (a UUIDv7 collision: never expected).
    type Outcome = bool;

    fn script(&self) -> &'static ScriptDef {
        &BEGIN
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.flow);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<bool, StoreError> {
        match reply.status.as_str() {
            "ok" => Ok(true),
            "exists" => Ok(false),
            _ => Err(reply.unexpected()),
        }
    }
}

pub struct Commit<'a> {
    pub flow: &'a str,
    /// `{"at":0,"tasks":[...]}`: the script fills in "at".
    pub record: &'a str,
}

impl Op for Commit<'_> {
    /// When the flow was begun (ms), or None when it can no longer commit.
    type Outcome = Option<i64>;

    fn script(&self) -> &'static ScriptDef {
        &COMMIT
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.flow).push(self.record);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Option<i64>, StoreError> {
        match reply.status.as_str() {
            "ok" => Ok(Some(reply.int()?)),
            "expired" => Ok(None),
            _ => Err(reply.unexpected()),
        }
    }
}

pub struct Forget<'a> {
    pub flow: &'a str,
    pub record: &'a str,
}

impl Op for Forget<'_> {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &FORGET
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.flow).push(self.record);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok(())
    }
}
