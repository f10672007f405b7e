//! `workers.lua`: the workers a queue has seen within the window, with what each holds and did.

use crate::model::{Labels, WorkerCounts, WorkerView, rfc3339_ms};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_int, into_string, optional_string};
use crate::store::script::{ScriptDef, script};

pub static WORKERS: ScriptDef = script!(
    "workers" in "queues",
    " flags=no-writes",
    keys: ["workers", "wstats", "wlabels", "stats", "policy"],
    policy: ["workers_window_ms"],
    prelude: [],
);

/// A queue's workers: the named ones, the anonymous ones together, and the names not recorded.
#[derive(Debug, Default)]
pub struct SeenWorkers {
    pub named: Vec<WorkerView>,
    pub anonymous: Option<WorkerCounts>,
    pub unlisted: u64,
    /// The queue's `workers_window_ms`: who is listed, and what the counts cover.
    pub window_ms: u64,
}

pub struct Workers;

impl Op for Workers {
    type Outcome = Option<SeenWorkers>;

    fn script(&self) -> &'static ScriptDef {
        &WORKERS
    }

    fn args(&self, _: &mut Args<'_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Self::Outcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {}
            "not_found" => return Ok(None),
            _ => return Err(reply.unexpected()),
        }
        let minute = reply.now_ms.div_euclid(60_000);
        let mut seen = SeenWorkers::default();
        let rows = into_array(reply.next()?)?;
        seen.unlisted = u64::try_from(into_int(reply.next()?)?).unwrap_or(0);
        seen.window_ms = reply.u64()?;
        let window = seen.window_ms.div_ceil(60_000) as i64;
        for row in rows {
            let mut parts = into_array(row)?.into_iter();
            let mut next = || parts.next().unwrap_or(deadpool_redis::redis::Value::Nil);
            let name = into_string(next())?;
            let last = into_string(next())?.parse::<f64>().unwrap_or(0.0) as i64;
            let stats = optional_string(next())?.unwrap_or_default();
            let mut counts = counts(rfc3339_ms(last), &stats, minute, window);
            counts.labels = optional_string(next())?
                .map(|text| Labels::from_canonical(&text).into_map())
                .unwrap_or_default();
            if name.is_empty() {
                seen.anonymous = Some(counts);
            } else {
                seen.named.push(WorkerView::of(name, counts));
            }
        }
        Ok(Some(seen))
    }
}

/// A worker's counts from its stored stats, "<held> <minute>:<leased>,<completed>,<failed>;...",
/// summing the buckets within the `window` minutes ending at `minute`. A stats text of another
/// shape (hand-edited) counts as nothing.
fn counts(last_seen: String, stats: &str, minute: i64, window: i64) -> WorkerCounts {
    let (held, buckets) = stats.split_once(' ').unwrap_or((stats, ""));
    let mut counts = WorkerCounts {
        last_seen,
        leases_held: held.parse().unwrap_or(0),
        ..WorkerCounts::default()
    };
    for bucket in buckets.split(';') {
        let Some((at, values)) = bucket.split_once(':') else {
            continue;
        };
        let at: i64 = at.parse().unwrap_or(i64::MIN);
        let values: Vec<u64> = values.split(',').filter_map(|v| v.parse().ok()).collect();
        if at > minute - window
            && let [leased, completed, failed] = values[..]
        {
            counts.leased += leased;
            counts.completed += completed;
            counts.failed += failed;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_the_buckets_within_the_window() {
        let stats = "2 100:5,3,1;99:2,2,0;95:9,9,9";
        let summed = counts("t".into(), stats, 100, 5);
        assert_eq!(
            (
                summed.leases_held,
                summed.leased,
                summed.completed,
                summed.failed
            ),
            (2, 7, 5, 1),
            "minute 95 is past the 5-minute window ending at 100"
        );
        assert_eq!(counts("t".into(), "", 100, 5).leased, 0);
        assert_eq!(counts("t".into(), "x y:z", 100, 5).leases_held, 0);
    }
}
