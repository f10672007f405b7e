//! `policy.lua`: replace, merge into or reset a queue's own policy values.

use super::types::{PolicyMode, PolicyWrite, PolicyWriteOutcome};
use crate::model::{Field, FieldError};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::policies::{format_value, parse_policy_hash};
use crate::store::script::{ScriptDef, script};

/// Policy writes are small and must work (to pause a queue, say) even when Redis is full. It
/// names every policy field: its arguments may set any of them.
pub static POLICY: ScriptDef = script!(
    "policy" in "policies",
    " flags=allow-oom",
    keys: ["ready", "gready", "rready", "rheads", "rsets", "policy", "events"],
    policy: [
        "lease_ms", "max_attempts", "backoff.initial_ms", "backoff.multiplier", "backoff.max_ms",
        "backoff.jitter", "max_payload_bytes", "rate_limit.per_second", "rate_limit.burst",
        "max_in_flight", "paused", "weight", "completed_ttl_ms", "dead_ttl_ms", "dedup_window_ms",
        "strategy", "groups.max_in_flight", "groups.rate_limit.per_second",
        "groups.rate_limit.burst", "groups.ordered", "start_ttl_ms", "workers_window_ms",
    ],
    prelude: [],
);

/// A versioned write's arguments, as `policy.lua` and `groups/write.lua` read them: mode,
/// expected version or '', who or '', then (field, value or '') pairs.
pub fn push_write(a: &mut Args<'_>, write: &PolicyWrite) {
    a.push(match write.mode {
        PolicyMode::Replace => "put",
        PolicyMode::Merge => "patch",
        PolicyMode::Reset => "reset",
    })
    .opt(write.expected_version)
    .push(write.updated_by.as_deref().unwrap_or(""));
    for (field, value) in &write.values {
        a.push(field.name())
            .push(value.map(format_value).unwrap_or_default());
    }
}

pub struct WritePolicy<'a> {
    pub write: &'a PolicyWrite,
    /// The server's defaults, to build the effective policy of the answer.
    pub defaults: &'a crate::model::QueuePolicy,
}

impl Op for WritePolicy<'_> {
    type Outcome = PolicyWriteOutcome;

    fn script(&self) -> &'static ScriptDef {
        &POLICY
    }

    fn args(&self, a: &mut Args<'_>) {
        push_write(a, self.write);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<PolicyWriteOutcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {
                let version = reply.u64()?;
                let updated_at = reply.int()?;
                let mut hash = into_array(reply.next()?)?
                    .into_iter()
                    .map(into_string)
                    .collect::<Result<Vec<_>, _>>()?;
                hash.extend([
                    "~version".to_owned(),
                    version.to_string(),
                    "~updated_at".to_owned(),
                    updated_at.to_string(),
                ]);
                if let Some(by) = &self.write.updated_by {
                    hash.extend(["~updated_by".to_owned(), by.clone()]);
                }
                Ok(PolicyWriteOutcome::Written(Box::new(parse_policy_hash(
                    self.defaults,
                    &hash,
                ))))
            }
            "stale" => Ok(PolicyWriteOutcome::Stale {
                version: reply.u64()?,
            }),
            "invalid" => {
                let field = reply.string()?;
                let message = reply.string()?;
                let field = Field::from_name(&field).map_or(field, |f| f.name().to_owned());
                Ok(PolicyWriteOutcome::Invalid(FieldError::new(field, message)))
            }
            _ => Err(reply.unexpected()),
        }
    }
}
