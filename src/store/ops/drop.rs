//! `scripts/drop.lua`: delete a whole queue.

use super::{Args, Op, Reply};
use crate::store::StoreError;
use crate::store::script::{DROP, ScriptDef};

pub struct Drop;

impl Op for Drop {
    /// How many keys were deleted.
    type Outcome = u64;

    fn script(&self) -> &'static ScriptDef {
        &DROP
    }

    fn args(&self, _: &mut Args<'_, '_>) {}

    fn outcome(self, reply: &mut Reply<'_>) -> Result<u64, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        reply.u64()
    }
}
