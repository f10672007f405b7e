//! `read.lua` (a flow's record), `due.lua` (the flows the sweep checks) and `states.lua` (the
//! states of a flow's tasks in one queue).

use deadpool_redis::redis::Value;

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string, optional_string};
use crate::store::script::{ScriptDef, script};

pub static READ: ScriptDef = script!(
    "read" in "flows",
    " flags=no-writes",
    keys: ["flows"],
    policy: [],
    prelude: [],
);

/// Moves due checks on: changes no size.
pub static DUE: ScriptDef = script!(
    "due" in "flows",
    " flags=allow-oom",
    keys: ["flows", "fcheck", "policy"],
    policy: ["completed_ttl_ms", "dead_ttl_ms"],
    prelude: [],
);

pub static STATES: ScriptDef = script!(
    "states" in "flows",
    " flags=no-writes",
    keys: ["meta"],
    policy: [],
    prelude: [],
);

pub struct Read<'a> {
    pub flow: &'a str,
}

impl Op for Read<'_> {
    type Outcome = Option<String>;

    fn script(&self) -> &'static ScriptDef {
        &READ
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.flow);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Option<String>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        optional_string(reply.next()?)
    }
}

pub struct Due {
    pub limit: usize,
}

impl Op for Due {
    /// (flow, record) pairs; a record gone under the check is "".
    type Outcome = Vec<(String, String)>;

    fn script(&self) -> &'static ScriptDef {
        &DUE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.limit);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<(String, String)>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let mut items = into_array(reply.next()?)?.into_iter();
        let mut due = Vec::new();
        while let Some(flow) = items.next() {
            let record = optional_string(items.next().unwrap_or(Value::Nil))?;
            due.push((into_string(flow)?, record.unwrap_or_default()));
        }
        Ok(due)
    }
}

pub struct States<'a> {
    pub ids: &'a [String],
}

impl Op for States<'_> {
    /// Each task's stored state word, or None when it does not exist.
    type Outcome = Vec<Option<String>>;

    fn script(&self) -> &'static ScriptDef {
        &STATES
    }

    fn args(&self, a: &mut Args<'_>) {
        for id in self.ids {
            a.push(id.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<Option<String>>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        into_array(reply.next()?)?
            .into_iter()
            .map(|value| match value {
                Value::Int(0) | Value::Boolean(false) | Value::Nil => Ok(None),
                other => into_string(other).map(Some),
            })
            .collect()
    }
}
