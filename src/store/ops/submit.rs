//! `scripts/submit.lua`: add one task.

use super::{Args, Op, Reply};
use crate::model::{Task, TaskId};
use crate::store::StoreError;
use crate::store::record::TaskRecord;
use crate::store::script::{SUBMIT, ScriptDef};
use crate::store::types::{NewTask, Start};

pub struct Submit {
    pub id: TaskId,
    pub task: NewTask,
}

impl Op for Submit {
    type Outcome = Task;

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

    fn outcome(self, reply: &mut Reply<'_>) -> Result<Task, StoreError> {
        match reply.status.as_str() {
            // The script answers with the new metadata only: the payload is the one we sent.
            "created" => {
                let meta = reply.string()?;
                let id = self.id.to_string();
                TaskRecord::assemble(reply.queue, id, &meta, self.task.payload, None, &[])
                    .map(|record| record.task)
                    .map_err(StoreError::Corrupt)
            }
            // A UUIDv7 collision: never expected, but never allowed to overwrite a task.
            "exists" => Err(StoreError::Redis("new task id already taken".into())),
            _ => Err(reply.unexpected()),
        }
    }
}
