//! `list.lua`: a page of a queue's tasks in one state, in that state's order.

use deadpool_redis::redis::Value;

use super::types::{PageCursor, TaskPage};
use crate::model::TaskState;
use crate::store::StoreError;
use crate::store::op::{Args, Op, Reply, into_string};
use crate::store::script::{ScriptDef, script};

/// A page of one state's tasks.
pub static LIST: ScriptDef = script!(
    "list" in "tasks",
    " flags=no-writes",
    keys: ["meta", "payload", "result", "progress", "errors", "ready", "gready", "rready", "ready_time", "scheduled", "deadlines", "leased",
        "completed", "dead", "cancelled", "quarantine", "stats", "policy", "dlink", "parents", "depres"],
    policy: ["lease_ms", "max_attempts"],
    prelude: ["record"],
);

pub struct ListTasks<'a> {
    pub state: TaskState,
    pub limit: u32,
    pub after: Option<&'a PageCursor>,
}

impl Op for ListTasks<'_> {
    type Outcome = TaskPage;

    fn script(&self) -> &'static ScriptDef {
        &LIST
    }

    fn args(&self, a: &mut Args<'_>) {
        // Each state's set has the state's name as its key role; waiting tasks are in `dlink`.
        let role = match self.state {
            TaskState::Waiting => "dlink",
            state => state.name(),
        };
        a.push(role)
            .push(self.limit)
            .opt(self.after.map(|c| c.score))
            .push(self.after.map_or("", |c| c.member.as_str()));
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<TaskPage, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let tasks = reply.tasks()?.into_iter().map(|r| r.task).collect();
        let next = match reply.next()? {
            Value::Array(last) => {
                let mut last = last.into_iter();
                let score = into_string(last.next().unwrap_or(Value::Nil))?;
                let member = into_string(last.next().unwrap_or(Value::Nil))?;
                Some(PageCursor {
                    score: score
                        .parse()
                        .map_err(|_| StoreError::Corrupt("page cursor score".into()))?,
                    member,
                })
            }
            _ => None,
        };
        Ok(TaskPage { tasks, next })
    }
}
