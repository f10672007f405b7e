//! `scripts/get.lua`: read one task, settling what is already due; `scripts/peek.lua`: read it
//! as stored, writing nothing.

use super::{Args, Op, Reply};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{GET, PEEK, ScriptDef};
use crate::store::types::GetOutcome;

pub struct Get {
    pub id: TaskId,
    /// Settle what is due first (`get.lua`), or read the record as stored (`peek.lua`).
    pub settle: bool,
}

impl Op for Get {
    type Outcome = GetOutcome;

    fn script(&self) -> &'static ScriptDef {
        if self.settle { &GET } else { &PEEK }
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
