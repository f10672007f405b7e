//! `submit.lua` (one task) and `submit_batch.lua` (many, each on its own
//! terms); both run `submit_one` in `prelude/submit_one.lua`.

use deadpool_redis::redis::Value;

use super::types::{NewTask, Start, SubmitOutcome};
use crate::model::{DependencyRef, FlowId, TaskId};
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_array, into_string};
use crate::store::record::{Parts, TaskRecord};
use crate::store::script::{ScriptDef, script};

/// Adds data: refused whole when Redis is out of memory.
pub static SUBMIT: ScriptDef = script!(
    "submit" in "tasks",
    "",
    keys: task_keys + ["idempotency", "idempotency_expiry"],
    policy: lifecycle + ["max_payload_bytes", "dedup_window_ms"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "submit_one"],
);

pub static SUBMIT_BATCH: ScriptDef = script!(
    "submit_batch" in "tasks",
    "",
    keys: task_keys + ["idempotency", "idempotency_expiry"],
    policy: lifecycle + ["max_payload_bytes", "dedup_window_ms"],
    prelude: ["record", "groups_conf", "groups", "requires", "workers", "lifecycle", "submit_one"],
);

pub struct Submit {
    pub id: TaskId,
    pub task: NewTask,
}

impl Op for Submit {
    type Outcome = SubmitOutcome;

    fn batch_weight(&self) -> Option<usize> {
        Some(1)
    }

    fn script(&self) -> &'static ScriptDef {
        &SUBMIT
    }

    fn args(&self, a: &mut Args<'_>) {
        push_task(a, self.id, &self.task);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<SubmitOutcome, StoreError> {
        let status = reply.status.clone();
        let value = reply.next()?;
        let policy_max_attempts = reply.u32()?;
        read_outcome(
            reply,
            &status,
            value,
            self.id,
            self.task,
            policy_max_attempts,
        )
    }
}

/// Up to `BATCH_ITEMS_MAX` tasks in one script.
pub struct SubmitBatch {
    pub tasks: Vec<(TaskId, NewTask)>,
}

impl Op for SubmitBatch {
    type Outcome = Vec<SubmitOutcome>;

    fn batch_weight(&self) -> Option<usize> {
        Some(self.tasks.len())
    }

    fn script(&self) -> &'static ScriptDef {
        &SUBMIT_BATCH
    }

    fn args(&self, a: &mut Args<'_>) {
        for (id, task) in &self.tasks {
            push_task(a, *id, task);
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Vec<SubmitOutcome>, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let results = into_array(reply.next()?)?;
        let policy_max_attempts = reply.u32()?;
        if results.len() != self.tasks.len() {
            return Err(StoreError::Corrupt("batch reply of another length".into()));
        }
        results
            .into_iter()
            .zip(self.tasks)
            .map(|(result, (id, task))| {
                let mut parts = into_array(result)?.into_iter();
                let status = into_string(parts.next().unwrap_or(Value::Nil))?;
                let value = parts.next().unwrap_or(Value::Nil);
                read_outcome(reply, &status, value, id, task, policy_max_attempts)
            })
            .collect()
    }
}

/// The 17 arguments of one task (see `submit.lua`).
pub(crate) fn push_task(a: &mut Args<'_>, id: TaskId, task: &NewTask) {
    let (delay, run_at) = match task.start {
        Start::Now => (None, None),
        Start::AfterMs(ms) => (Some(ms), None),
        Start::AtMs(ms) => (None, Some(ms)),
    };
    let (key, fingerprint) = match &task.idempotency {
        Some(i) => (i.key.as_str(), i.fingerprint.as_str()),
        None => ("", ""),
    };
    a.push(id.to_string())
        .push(task.payload.get())
        .push(task.priority)
        .opt(delay)
        .opt(run_at)
        .opt(task.max_attempts)
        .opt(task.lease_ms)
        .push(key)
        .push(fingerprint)
        .push(task.group.as_ref().map_or("", |g| g.as_str()))
        .opt(task.start_within_ms)
        .push(task.requires.as_deref().unwrap_or(""));
    match &task.debounce {
        Some(d) => a.push(d.key.as_str()).push(d.delay_ms).opt(d.max_delay_ms),
        None => a.push("").push("").push(""),
    };
    if task.depends_on.is_none() && task.flow.is_none() {
        a.push("").push("");
    } else {
        let parents = task.depends_on.as_deref().unwrap_or_default();
        a.push(parents_json(task.flow.as_ref(), parents))
            .push(task.on_dependency_failure.stored());
    }
}

/// A task's parents as its record keeps them: `[[queue, id], ...]`, its flow's commit first
/// (`[<home queue>, "~<uuid>"]`) when it is in a flow.
fn parents_json(flow: Option<&FlowId>, parents: &[DependencyRef]) -> String {
    let commit = flow.map(|flow| [flow.home.to_string(), flow.commit_parent()]);
    let pairs: Vec<[String; 2]> = commit
        .into_iter()
        .chain(
            parents
                .iter()
                .map(|p| [p.queue.to_string(), p.id.to_string()]),
        )
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

pub(crate) fn read_outcome(
    reply: &mut Reply<'_>,
    status: &str,
    value: Value,
    id: TaskId,
    task: NewTask,
    policy_max_attempts: u32,
) -> Result<SubmitOutcome, StoreError> {
    Ok(match status {
        // The script answers with the new metadata only: the payload is the one we sent.
        "created" => {
            let meta = into_string(value)?;
            let parts = Parts {
                id: id.to_string(),
                meta: &meta,
                payload: task.payload,
                result: None,
                progress: None,
                history: &[],
                policy_max_attempts,
                dependencies: task.depends_on.as_ref().map(|parents| {
                    parents
                        .iter()
                        .map(|p| (p.queue.to_string(), p.id.to_string(), None))
                        .collect()
                }),
            };
            let record = TaskRecord::assemble(reply.queue, parts).map_err(StoreError::Corrupt)?;
            SubmitOutcome::Created(Box::new(record.task))
        }
        "replayed" => match reply.record(value)? {
            Some(record) => SubmitOutcome::Replayed(Box::new(record.task)),
            None => return Err(StoreError::Corrupt("the first task is unreadable".into())),
        },
        "debounced" => match reply.record(value)? {
            Some(record) => {
                let mut task = record.task;
                task.debounced = Some(true);
                SubmitOutcome::Debounced(Box::new(task))
            }
            None => {
                return Err(StoreError::Corrupt(
                    "the debounced task is unreadable".into(),
                ));
            }
        },
        "too_large" => SubmitOutcome::TooLarge {
            limit: u64::try_from(crate::store::op::into_int(value)?).unwrap_or(0),
        },
        "key_reused" => SubmitOutcome::KeyReused {
            first: into_string(value)?,
        },
        "key_gone" => SubmitOutcome::KeyGone {
            first: into_string(value)?,
        },
        "requires_full" => SubmitOutcome::RequirementSetsFull {
            limit: u64::try_from(crate::store::op::into_int(value)?).unwrap_or(0),
        },
        // A UUIDv7 collision: never expected, but never allowed to overwrite a task.
        "exists" => return Err(StoreError::Redis("new task id already taken".into())),
        _ => return Err(unexpected(status)),
    })
}

fn unexpected(status: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected submit status {status:?}"))
}
