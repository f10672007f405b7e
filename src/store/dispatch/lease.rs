//! `lease.lua`: lease ready tasks, or replay an earlier call with the same request id.

use deadpool_redis::redis::Value;

use super::types::{LeaseOutcome, LeaseRequest};
use crate::model::{Lease as GrantedLease, rfc3339_ms};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, remaining_ms};
use crate::store::script::{ScriptDef, script};

pub static LEASE: ScriptDef = script!(
    "lease" in "dispatch",
    " flags=allow-oom",
    keys: task_keys + ["requests", "request_expiry"],
    policy: lifecycle + ["max_in_flight", "paused", "rate_limit.per_second", "rate_limit.burst",
        "strategy"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "choice"],
);

pub struct Lease<'a> {
    pub request: &'a LeaseRequest,
}

impl Op for Lease<'_> {
    type Outcome = LeaseOutcome;

    fn batch_weight(&self) -> Option<usize> {
        Some(self.request.max_tasks.max(1) as usize)
    }

    fn script(&self) -> &'static ScriptDef {
        &LEASE
    }

    fn args(&self, a: &mut Args<'_>) {
        let request = self.request;
        a.push(request.worker.as_deref().unwrap_or(""))
            .opt(request.lease_ms)
            .push(request.max_tasks)
            .push(request.request_id.as_deref().unwrap_or(""))
            .push(
                request
                    .labels
                    .as_ref()
                    .map_or(String::new(), |l| l.canonical()),
            );
        // Lease ids are made here, not in Lua: Redis's script PRNG is not meant to be
        // unguessable, and a lease id is a fencing token. 128 random bits each.
        for _ in 0..request.max_tasks {
            a.push(format!("{:032x}", rand::random::<u128>()));
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<LeaseOutcome, StoreError> {
        let status = reply.status.clone();
        if !matches!(status.as_str(), "ok" | "replayed" | "paused" | "limited") {
            return Err(reply.unexpected());
        }
        let now_ms = reply.now_ms;
        let leases = reply
            .tasks()?
            .into_iter()
            .map(
                |record| match (record.meta.lease_id, record.meta.leased_until) {
                    (Some(lease_id), Some(until)) => Ok(GrantedLease {
                        lease_id,
                        expires_at: rfc3339_ms(until),
                        expires_in_ms: remaining_ms(until, now_ms),
                        attempt: record.meta.attempts,
                        task: record.task,
                    }),
                    _ => Err(StoreError::Corrupt("leased task without a lease".into())),
                },
            )
            .collect::<Result<_, _>>()?;
        let retry_after_ms = match reply.next()? {
            Value::Int(ms) => u64::try_from(ms).ok(),
            _ => None,
        };
        let unmatched = matches!(reply.next_or_nil(), Value::Int(1));
        Ok(LeaseOutcome {
            leases,
            replayed: status == "replayed",
            paused: status == "paused",
            retry_after_ms,
            unmatched,
        })
    }
}
