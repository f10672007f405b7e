//! `write.lua`: replace, merge into or reset a group's own limits.

use super::view::read_group;
use crate::model::{GroupName, GroupView};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply};
use crate::store::policies::{PolicyWrite, push_write};
use crate::store::script::{ScriptDef, script};

/// Small, and must work when Redis is full (to pause a group, say).
pub static WRITE: ScriptDef = script!(
    "write" in "groups",
    " flags=allow-oom",
    keys: task_keys,
    policy: ["lease_ms", "max_attempts", "groups.max_in_flight", "groups.rate_limit.per_second",
        "groups.rate_limit.burst", "groups.ordered"],
    prelude: ["record", "groups_conf", "groups", "group_view"],
);

/// A checked write of a group's own limits: a policy write whose values are only `Weight`,
/// `MaxInFlight`, `RatePerSecond`, `RateBurst` and `Paused` (named in `gconf` as in the policy).
pub struct GroupWrite {
    pub group: GroupName,
    pub write: PolicyWrite,
}

/// How a group write ended.
#[derive(Debug)]
pub enum GroupWriteOutcome {
    Written(Box<GroupView>),
    /// `If-Match` named another version; nothing changed.
    Stale {
        version: u64,
    },
}

pub struct WriteGroup<'a> {
    pub write: &'a GroupWrite,
}

impl Op for WriteGroup<'_> {
    type Outcome = GroupWriteOutcome;

    fn script(&self) -> &'static ScriptDef {
        &WRITE
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.write.group.as_str());
        push_write(a, &self.write.write);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<GroupWriteOutcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {
                let group = reply.next()?;
                let view = read_group(reply.queue.as_str(), group)?;
                Ok(GroupWriteOutcome::Written(Box::new(view)))
            }
            "stale" => Ok(GroupWriteOutcome::Stale {
                version: reply.u64()?,
            }),
            _ => Err(reply.unexpected()),
        }
    }
}
