//! `scripts/quarantine.lua`: move records the server could not read out of every index.

use super::{Args, Op, Reply};
use crate::store::StoreError;
use crate::store::script::{QUARANTINE, ScriptDef};

pub struct Quarantine<'a> {
    /// (task id, why)
    pub records: &'a [(String, String)],
}

impl Op for Quarantine<'_> {
    type Outcome = ();

    fn script(&self) -> &'static ScriptDef {
        &QUARANTINE
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        for (id, why) in self.records {
            a.push(id.as_str()).push(why.as_str());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(), StoreError> {
        if reply.status == "ok" {
            Ok(())
        } else {
            Err(reply.unexpected())
        }
    }
}
