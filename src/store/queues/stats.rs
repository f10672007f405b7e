//! `stats.lua`: a queue's counts, totals, oldest ready age and policy.

use crate::model::{QueuePolicy, QueueStats, Totals};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::policies::parse_policy_hash;
use crate::store::script::{ScriptDef, script};

pub static STATS: ScriptDef = script!(
    "stats" in "queues",
    " flags=no-writes",
    keys: ["ready", "gready", "rready", "ready_time", "scheduled", "deadlines", "leased", "completed", "dead", "cancelled",
        "quarantine", "stats", "policy", "gstate", "gturn", "rturn", "schedules", "dlink"],
    policy: [],
    prelude: ["counts"],
);

pub struct Stats<'a> {
    pub defaults: &'a QueuePolicy,
}

impl Op for Stats<'_> {
    type Outcome = Option<QueueStats>;

    fn script(&self) -> &'static ScriptDef {
        &STATS
    }

    fn args(&self, _: &mut Args<'_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Option<QueueStats>, StoreError> {
        match reply.status.as_str() {
            "ok" => {}
            "not_found" => return Ok(None),
            _ => return Err(reply.unexpected()),
        }
        let counts = reply.counts()?;
        let t = reply.u64s()?;
        let Some(&[submitted, done, failed, died, expired, debounced]) = t.get(..6) else {
            return Err(StoreError::Corrupt("short stats reply".into()));
        };
        let oldest_ready_age_ms = match reply.next()? {
            deadpool_redis::redis::Value::Int(since) => {
                Some(u64::try_from(reply.now_ms - since).unwrap_or(0))
            }
            _ => None,
        };
        let hash = into_array(reply.next()?)?
            .into_iter()
            .map(into_string)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(QueueStats {
            name: reply.queue.to_string(),
            counts,
            totals: Totals {
                submitted,
                completed: done,
                failed,
                dead: died,
                expired,
                debounced,
            },
            oldest_ready_age_ms,
            groups: reply.group_tally()?,
            schedules: reply.u64()?,
            policy: parse_policy_hash(self.defaults, &hash).effective,
        }))
    }
}
