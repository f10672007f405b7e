//! `begin.lua`, `commit.lua`, `abort.lua`, `discard.lua` and `forget.lua`: a flow's record,
//! from its first task stored to its commit (or its abort, with its tasks taken back), and
//! forgotten once none of its tasks is left.

use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::script::{ScriptDef, script};
use crate::store::tasks::Idempotency;

/// Adds a record: refused whole when Redis is full (then nothing of the flow is stored).
pub static BEGIN: ScriptDef = script!(
    "begin" in "flows",
    "",
    keys: ["flows", "fcheck", "idempotency", "idempotency_expiry", "policy"],
    policy: ["dedup_window_ms"],
    prelude: [],
);

/// Marks the record aborted and lets its key go: shrinks or keeps.
pub static ABORT: ScriptDef = script!(
    "abort" in "flows",
    " flags=allow-oom",
    keys: ["flows", "fcheck", "idempotency", "idempotency_expiry"],
    policy: [],
    prelude: [],
);

/// Erases tasks: shrinks.
pub static DISCARD: ScriptDef = script!(
    "discard" in "flows",
    " flags=allow-oom",
    keys: task_keys + ["kids"],
    policy: lifecycle,
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "deps"],
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
    pub idempotency: Option<&'a Idempotency>,
}

/// How beginning a flow went.
pub enum Begun {
    Started,
    /// A flow of that id exists (a UUIDv7 collision: never expected).
    Exists,
    /// The idempotency key names an earlier flow (its uuid) of the same request...
    Replayed(String),
    /// ...or of another request.
    KeyReused(String),
}

impl Op for Begin<'_> {
    type Outcome = Begun;

    fn script(&self) -> &'static ScriptDef {
        &BEGIN
    }

    fn args(&self, a: &mut Args<'_>) {
        let (key, print) = self
            .idempotency
            .map_or(("", ""), |i| (i.key.as_str(), i.fingerprint.as_str()));
        a.push(self.flow).push(key).push(print);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Begun, StoreError> {
        match reply.status.as_str() {
            "ok" => Ok(Begun::Started),
            "exists" => Ok(Begun::Exists),
            "replayed" => Ok(Begun::Replayed(reply.string()?)),
            "key_reused" => Ok(Begun::KeyReused(reply.string()?)),
            _ => Err(reply.unexpected()),
        }
    }
}

pub struct Abort<'a> {
    pub flow: &'a str,
    pub key: &'a str,
    /// Its tasks are all taken back: an aborted record goes.
    pub forget: bool,
}

impl Op for Abort<'_> {
    /// True when the flow turns out to be committed (nothing was changed).
    type Outcome = bool;

    fn script(&self) -> &'static ScriptDef {
        &ABORT
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.flow)
            .push(self.key)
            .push(if self.forget { "forget" } else { "" });
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<bool, StoreError> {
        match reply.status.as_str() {
            "ok" => Ok(false),
            "committed" => Ok(true),
            _ => Err(reply.unexpected()),
        }
    }
}

pub struct Discard<'a> {
    /// The flow's commit parent, `~<uuid>`.
    pub commit: &'a str,
    pub ids: &'a [String],
}

impl Op for Discard<'_> {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &DISCARD
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.commit);
        for id in self.ids {
            a.push(id.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok(())
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
