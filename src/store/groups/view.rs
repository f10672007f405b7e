//! `view.lua`: task groups as the API shows them, one by name or a page of them, and the
//! reading of one group from a reply (`prelude/group_view.lua`), which the write answers too.

use deadpool_redis::redis::Value;
use serde_json::Map;

use crate::model::{
    GroupCounts, GroupHold, GroupLimitsInEffect, GroupName, GroupStanding, GroupView, RateLimit,
    rfc3339_ms,
};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, corrupt, into_array, into_int, optional_string};
use crate::store::script::{ScriptDef, script};

pub static VIEW: ScriptDef = script!(
    "view" in "groups",
    " flags=no-writes",
    keys: ["meta", "policy", "gready", "gstate", "gleased", "grate", "gwait", "ghold", "gconf", "glive",
        "gnames"],
    policy: ["groups.max_in_flight", "groups.rate_limit.per_second", "groups.rate_limit.burst",
        "groups.ordered"],
    prelude: ["groups_conf", "group_view"],
);

/// Which groups to read.
pub enum Which<'a> {
    One(&'a GroupName),
    /// The groups whose names sort after `after` (from the first when empty), at most `limit`.
    Page {
        after: &'a str,
        limit: u32,
    },
}

pub struct ViewGroups<'a> {
    pub which: Which<'a>,
}

impl Op for ViewGroups<'_> {
    /// The groups, and whether more follow.
    type Outcome = (Vec<GroupView>, bool);

    fn script(&self) -> &'static ScriptDef {
        &VIEW
    }

    fn args(&self, a: &mut Args<'_>) {
        match &self.which {
            Which::One(group) => a.push("one").push(group.as_str()),
            Which::Page { after, limit } => a.push("page").push(*after).push(*limit),
        };
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(Vec<GroupView>, bool), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let groups = into_array(reply.next()?)?
            .into_iter()
            .map(|g| read_group(reply.queue.as_str(), g))
            .collect::<Result<_, _>>()?;
        Ok((groups, reply.int()? == 1))
    }
}

/// One group as `group_view` answers it.
pub fn read_group(queue: &str, value: Value) -> Result<GroupView, StoreError> {
    let mut parts = into_array(value)?.into_iter();
    let mut next = || parts.next().unwrap_or(Value::Nil);
    let name = optional_string(next())?.ok_or_else(|| corrupt("a group without a name"))?;
    let own = optional_string(next())?;
    let ready = count(next())?;
    let leased = count(next())?;
    let live = count(next())?;
    let state = match optional_string(next())?.as_deref() {
        Some("turns") => GroupStanding::Turns,
        Some("held") => GroupStanding::Held,
        _ => GroupStanding::Idle,
    };
    let held_by = match optional_string(next())?.as_deref() {
        Some("paused") => Some(GroupHold::Paused),
        Some("max_in_flight") => Some(GroupHold::MaxInFlight),
        Some("ordered") => Some(GroupHold::Ordered),
        Some("rate_limit") => Some(GroupHold::RateLimit),
        _ => None,
    };
    let tokens = number(next())?.map(|t| (t * 1000.0).floor() / 1000.0);
    let mut limits = into_array(next())?.into_iter();
    let mut limit = || limits.next().unwrap_or(Value::Nil);
    let weight = count(limit())?;
    let max_in_flight = number(limit())?.map(|n| n as u64);
    let rate = number(limit())?;
    let burst = number(limit())?;
    let paused = count(limit())? == 1;
    let ordered = count(limit())? == 1;
    let own: Map<String, serde_json::Value> = own
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default();
    let stamp = |key: &str| own.get(key).and_then(serde_json::Value::as_i64);
    Ok(GroupView {
        queue: queue.to_owned(),
        group: name,
        counts: GroupCounts {
            ready,
            scheduled: live.saturating_sub(ready + leased),
            leased,
        },
        in_flight: leased,
        tokens,
        state,
        held_by: held_by.filter(|_| state == GroupStanding::Held),
        limits: GroupLimitsInEffect {
            weight: u32::try_from(weight).unwrap_or(1),
            max_in_flight,
            rate_limit: rate.map(|per_second| RateLimit {
                per_second,
                burst: burst.map_or(RateLimit::per_second(per_second).burst, |b| b as u64),
            }),
            paused,
            ordered,
        },
        overrides: GROUP_FIELDS
            .iter()
            .filter(|f| own.contains_key(**f))
            .map(|f| (*f).to_owned())
            .collect(),
        version: stamp("~version")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
        updated_at: stamp("~updated_at").map(rfc3339_ms),
        updated_by: own
            .get("~updated_by")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

/// The fields a group may set itself, as `gconf` names them.
pub const GROUP_FIELDS: [&str; 5] = [
    "weight",
    "max_in_flight",
    "rate_limit.per_second",
    "rate_limit.burst",
    "paused",
];

fn count(value: Value) -> Result<u64, StoreError> {
    match value {
        Value::Nil => Ok(0),
        other => Ok(u64::try_from(into_int(other)?).unwrap_or(0)),
    }
}

/// A number the script sent as an integer or as text (Lua integers and floats), or nothing.
fn number(value: Value) -> Result<Option<f64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(n) => Ok(Some(n as f64)),
        other => optional_string(other)?
            .map(|text| text.parse::<f64>().map_err(corrupt))
            .transpose(),
    }
}
