//! The dead-letter scripts: `scripts/dead.lua` (a page of dead tasks),
//! `scripts/redrive.lua` (back to ready) and `scripts/purge_dead.lua` (delete).

use deadpool_redis::redis::Value;

use super::{Args, Op, Reply, into_string};
use crate::model::TaskId;
use crate::store::StoreError;
use crate::store::script::{DEAD, PURGE_DEAD, REDRIVE, ScriptDef};
use crate::store::types::{DeadCursor, DeadPage};

pub struct ListDead<'a> {
    pub limit: u32,
    pub after: Option<&'a DeadCursor>,
}

impl Op for ListDead<'_> {
    type Outcome = DeadPage;

    fn script(&self) -> &'static ScriptDef {
        &DEAD
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.limit)
            .opt(self.after.map(|c| c.purge_at))
            .push(self.after.map_or("", |c| c.id.as_str()));
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<DeadPage, StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        let tasks = reply.tasks()?.into_iter().map(|r| r.task).collect();
        let next = match reply.next()? {
            Value::Array(last) => {
                let mut last = last.into_iter();
                let purge_at = into_string(last.next().unwrap_or(Value::Nil))?;
                let id = into_string(last.next().unwrap_or(Value::Nil))?;
                Some(DeadCursor {
                    purge_at: purge_at
                        .parse()
                        .map_err(|_| StoreError::Corrupt("dead cursor score".into()))?,
                    id,
                })
            }
            _ => None,
        };
        Ok(DeadPage { tasks, next })
    }
}

/// Redrives the listed dead tasks, or (with none listed) up to `oldest` of the oldest.
pub struct Redrive<'a> {
    pub ids: &'a [TaskId],
    pub oldest: u32,
}

impl Op for Redrive<'_> {
    /// (redriven, listed ids that were not dead)
    type Outcome = (u64, u64);

    fn script(&self) -> &'static ScriptDef {
        &REDRIVE
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.oldest);
        for id in self.ids {
            a.push(id.to_string());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(u64, u64), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok((reply.u64()?, reply.u64()?))
    }
}

pub struct PurgeDead {
    pub most: u32,
}

impl Op for PurgeDead {
    /// (purged, dead tasks left)
    type Outcome = (u64, u64);

    fn script(&self) -> &'static ScriptDef {
        &PURGE_DEAD
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        a.push(self.most);
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<(u64, u64), StoreError> {
        if reply.status != "ok" {
            return Err(reply.unexpected());
        }
        Ok((reply.u64()?, reply.u64()?))
    }
}
