//! `scripts/get.lua`: read one task, settling what is already due.

use super::{Args, Op, Reply};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{GET, ScriptDef};
use crate::store::types::GetOutcome;

pub struct Get {
    pub id: TaskId,
}

impl Op for Get {
    type Outcome = GetOutcome;

    fn script(&self) -> &'static ScriptDef {
        &GET
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.id.to_string());
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<GetOutcome, StoreError> {
        Ok(match reply.status.as_str() {
            "ok" => match reply.task()? {
                Some(record) => GetOutcome::Found(Box::new(record.task)),
                None => GetOutcome::Quarantined,
            },
            "not_found" => GetOutcome::NotFound,
            "quarantined" => GetOutcome::Quarantined,
            _ => return Err(reply.unexpected()),
        })
    }
}
