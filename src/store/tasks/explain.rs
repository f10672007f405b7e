//! `explain.lua`: why a task is where it is, read in one atomic step, and each reason put in
//! words with its numbers.

use crate::model::{
    BehindScope, Explanation, Labels, Reason, ReasonCode, TaskId, TaskRef, TaskState, rfc3339_ms,
};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::script::{ScriptDef, script};

/// Reads only, so it never changes what it explains.
pub static EXPLAIN: ScriptDef = script!(
    "explain" in "tasks",
    " flags=no-writes",
    keys: task_keys,
    policy: ["paused", "max_in_flight", "rate_limit.per_second", "rate_limit.burst", "strategy",
        "workers_window_ms",
        "groups.max_in_flight", "groups.rate_limit.per_second", "groups.rate_limit.burst",
        "groups.ordered", "lease_ms", "max_attempts"],
    prelude: ["record", "groups_conf", "groups", "requires"],
);

/// How an explain ended.
#[derive(Debug)]
pub enum ExplainOutcome {
    Found(Explanation),
    NotFound,
    Quarantined,
}

pub struct Explain {
    pub id: TaskId,
}

impl Op for Explain {
    type Outcome = ExplainOutcome;

    fn script(&self) -> &'static ScriptDef {
        &EXPLAIN
    }

    fn args(&self, a: &mut Args<'_>) {
        a.push(self.id.to_string());
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<ExplainOutcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {}
            "not_found" => return Ok(ExplainOutcome::NotFound),
            "quarantined" => return Ok(ExplainOutcome::Quarantined),
            _ => return Err(reply.unexpected()),
        }
        let state = reply.string()?;
        let state = TaskState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown state {state}")))?;
        let mut reasons = Vec::new();
        for value in into_array(reply.next()?)? {
            let parts = into_array(value)?
                .into_iter()
                .map(into_string)
                .collect::<Result<Vec<_>, _>>()?;
            reasons.push(word(&parts).ok_or_else(|| {
                StoreError::Corrupt(format!("an explain reason of an unknown shape: {parts:?}"))
            })?);
        }
        // Certain only when nothing holds it and the whole queue's order is known to put it
        // first: a count within its group, or a lower bound, says nothing of the other turns.
        let held = reasons.iter().any(|r| r.code.holds());
        let first = reasons.iter().any(|r| {
            r.ahead == Some(0) && r.exact == Some(true) && r.scope == Some(BehindScope::Queue)
        });
        Ok(ExplainOutcome::Found(Explanation {
            state,
            runnable_now: state == TaskState::Ready && !held && first,
            reasons,
        }))
    }
}

/// One reason from the script's `{ code, values... }`, in words; `None` for a shape this
/// version does not know.
fn word(parts: &[String]) -> Option<Reason> {
    let n = |i: usize| parts.get(i).and_then(|v| v.parse::<i64>().ok());
    let u = |i: usize| n(i).and_then(|v| u64::try_from(v).ok());
    let text = |i: usize| parts.get(i).filter(|v| !v.is_empty()).cloned();
    Some(match parts.first()?.as_str() {
        "waiting_for" => {
            // A flow's commit (`~<uuid>`) is not a task: a flow being stored waits for it.
            let parents: Vec<TaskRef> = parts[1..]
                .chunks(2)
                .filter_map(|pair| match pair {
                    [_, id] if id.starts_with('~') => None,
                    [queue, id] => Some(TaskRef {
                        queue: queue.clone(),
                        id: id.clone(),
                    }),
                    _ => None,
                })
                .collect();
            let mut r = Reason::new(
                ReasonCode::WaitingFor,
                format!(
                    "it waits for {} task(s) it depends on to finish",
                    parents.len()
                ),
            );
            r.waiting_for = Some(parents);
            r
        }
        "scheduled" => {
            let until = rfc3339_ms(n(1)?);
            let why = if u(2)? > 0 {
                "waits for its retry"
            } else {
                "is delayed"
            };
            let mut r = Reason::new(ReasonCode::Scheduled, format!("it {why} until {until}"));
            r.until = Some(until);
            r
        }
        "start_deadline_passed" => {
            let at = rfc3339_ms(n(1)?);
            let mut r = Reason::new(
                ReasonCode::StartDeadlinePassed,
                format!(
                    "its start deadline passed at {at}: it will not be started, and the next \
                     call that reads it (a lease, a GET) or the sweep ends it dead"
                ),
            );
            r.until = Some(at);
            r
        }
        "queue_paused" => Reason::new(ReasonCode::QueuePaused, "the queue is paused".into()),
        "queue_max_in_flight" => {
            let (out, limit) = (u(1)?, u(2)?);
            let mut r = Reason::new(
                ReasonCode::QueueMaxInFlight,
                format!("the queue has {out} of its max_in_flight {limit} tasks leased"),
            );
            (r.in_flight, r.limit) = (Some(out), Some(limit));
            r
        }
        "queue_rate_limited" => {
            let wait = u(1)?;
            let mut r = Reason::new(
                ReasonCode::QueueRateLimited,
                format!("the queue's rate limit has its next lease in {wait} ms"),
            );
            r.retry_in_ms = Some(wait);
            r
        }
        "group_paused" => {
            let g = text(1)?;
            let mut r = Reason::new(ReasonCode::GroupPaused, format!("its group {g} is paused"));
            r.group = Some(g);
            r
        }
        "group_max_in_flight" => {
            let (g, out, limit) = (text(1)?, u(2)?, u(3)?);
            let mut r = Reason::new(
                ReasonCode::GroupMaxInFlight,
                format!("its group {g} has {out} of its max_in_flight {limit} tasks leased"),
            );
            (r.group, r.in_flight, r.limit) = (Some(g), Some(out), Some(limit));
            r
        }
        "group_rate_limited" => {
            let (g, wait) = (text(1)?, u(2)?);
            let mut r = Reason::new(
                ReasonCode::GroupRateLimited,
                format!("its group {g}'s rate limit has its next lease in {wait} ms"),
            );
            (r.group, r.retry_in_ms) = (Some(g), Some(wait));
            r
        }
        "ordered_group_busy" => {
            let (g, holder, state) = (text(1)?, text(2)?, TaskState::parse(&text(3)?)?);
            let mut r = Reason::new(
                ReasonCode::OrderedGroupBusy,
                format!(
                    "its group {g} is ordered and task {holder} ({}) goes first",
                    state.name()
                ),
            );
            (r.group, r.task_id, r.task_state) = (Some(g), Some(holder), Some(state));
            r
        }
        "group_next_needs_labels" => {
            let (g, head, rset) = (text(1)?, text(2)?, text(3)?);
            let requires = Labels::from_canonical(&rset).into_map();
            let mut r = Reason::new(
                ReasonCode::GroupNextNeedsLabels,
                format!(
                    "its group {g}'s next task {head} requires {}, which no worker that called \
                     this queue lately has; the group keeps its order and waits for one",
                    rset.replace(',', ", ")
                ),
            );
            (r.group, r.task_id, r.requires) = (Some(g), Some(head), Some(requires));
            r
        }
        "behind" => behind(u(1)?, parts.get(2)?, parts.get(3)? == "exact")?,
        "no_workers" => {
            let last = n(1).map(rfc3339_ms);
            let message = match &last {
                Some(at) => format!("no worker has asked this queue for tasks since {at}"),
                None => {
                    "no worker has asked this queue for tasks lately (none on record)".to_owned()
                }
            };
            let mut r = Reason::new(ReasonCode::NoWorkers, message);
            r.last_lease_at = last;
            r
        }
        "no_matching_worker" => {
            let (requires, seen) = (Labels::from_canonical(&text(1)?).into_map(), u(2)?);
            let wanted: Vec<String> = requires.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut r = Reason::new(
                ReasonCode::NoMatchingWorker,
                format!(
                    "it requires {}, and none of the {seen} worker(s) that called this queue \
                     lately had those labels on their last lease call",
                    wanted.join(", ")
                ),
            );
            (r.requires, r.workers_seen) = (Some(requires), Some(seen));
            r
        }
        "leased" => {
            let (worker, until) = (text(1), rfc3339_ms(n(2)?));
            let by = worker.as_deref().map_or(String::new(), |w| format!(" {w}"));
            let mut r = Reason::new(
                ReasonCode::Leased,
                format!("worker{by} holds it until {until}"),
            );
            (r.worker, r.until) = (worker, Some(until));
            r
        }
        finished @ ("completed" | "dead" | "cancelled") => {
            let at = rfc3339_ms(n(1)?);
            let attempts = u32::try_from(u(2)?).unwrap_or(u32::MAX);
            let (code, message) = match finished {
                "completed" => (
                    ReasonCode::Completed,
                    format!("it completed at {at}, after {attempts} attempt(s)"),
                ),
                "dead" => (
                    ReasonCode::Dead,
                    match text(3) {
                        Some(last) => {
                            format!("it died at {at} after {attempts} attempt(s): {last}")
                        }
                        None => format!("it died at {at} after {attempts} attempt(s)"),
                    },
                ),
                _ => (ReasonCode::Cancelled, format!("it was cancelled at {at}")),
            };
            let mut r = Reason::new(code, message);
            (r.until, r.attempts) = (Some(at), Some(attempts));
            r
        }
        _ => return None,
    })
}

/// The `behind` reason: `ahead` tasks before it over `scope`, exactly or at least.
fn behind(ahead: u64, scope: &str, exact: bool) -> Option<Reason> {
    let (scope, over) = match scope {
        "queue" => (BehindScope::Queue, "in the queue".to_owned()),
        "group" => (
            BehindScope::Group,
            "of its group (other groups' tasks may come between them)".to_owned(),
        ),
        "ungrouped" => (
            BehindScope::Ungrouped,
            "without a group (the groups take turns between them)".to_owned(),
        ),
        _ => return None,
    };
    let count = if exact { "" } else { "at least " };
    let noun = if ahead == 1 { "task" } else { "tasks" };
    let mut r = Reason::new(
        ReasonCode::Behind,
        format!("{count}{ahead} {noun} {over} will be leased before it"),
    );
    (r.ahead, r.exact, r.scope) = (Some(ahead), Some(exact), Some(scope));
    Some(r)
}
