//! `scripts/submit.lua`: add one task.

use super::{Args, Op, Reply};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::record::{Parts, TaskRecord};
use crate::store::script::{SUBMIT, ScriptDef};
use crate::store::types::{NewTask, Start, SubmitOutcome};

pub struct Submit {
    pub id: TaskId,
    pub task: NewTask,
}

impl Op for Submit {
    type Outcome = SubmitOutcome;

    fn script(&self) -> &'static ScriptDef {
        &SUBMIT
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        let (delay, run_at) = match self.task.start {
            Start::Now => (None, None),
            Start::AfterMs(ms) => (Some(ms), None),
            Start::AtMs(ms) => (None, Some(ms)),
        };
        a.push(self.id.to_string())
            .push(self.task.payload.get())
            .push(self.task.priority)
            .opt(delay)
            .opt(run_at)
            .opt(self.task.max_attempts)
            .opt(self.task.lease_ms);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<SubmitOutcome, StoreError> {
        match reply.status.as_str() {
            // The script answers with the new metadata only: the payload is the one we sent.
            "created" => {
                let meta = reply.string()?;
                let parts = Parts {
                    id: self.id.to_string(),
                    meta: &meta,
                    payload: self.task.payload,
                    result: None,
                    history: &[],
                    policy_max_attempts: reply.u32()?,
                };
                TaskRecord::assemble(reply.queue, parts)
                    .map(|record| SubmitOutcome::Created(Box::new(record.task)))
                    .map_err(StoreError::Corrupt)
            }
            "too_large" => Ok(SubmitOutcome::TooLarge {
                limit: reply.u64()?,
            }),
            // A UUIDv7 collision: never expected, but never allowed to overwrite a task.
            "exists" => Err(StoreError::Redis("new task id already taken".into())),
            _ => Err(reply.unexpected()),
        }
    }
}
