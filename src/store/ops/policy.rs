//! `scripts/policy.lua`: replace, merge into or reset a queue's own policy values.

use super::{Args, Op, Reply, into_array, into_string};
use crate::model::{Field, FieldError};
use crate::store::StoreError;
use crate::store::policy::{format_value, parse_policy_hash};
use crate::store::script::{POLICY, ScriptDef};
use crate::store::types::{PolicyMode, PolicyWrite, PolicyWriteOutcome};

pub struct WritePolicy<'a> {
    pub write: &'a PolicyWrite,
    /// The server's defaults, to build the effective policy of the answer.
    pub defaults: &'a crate::model::QueuePolicy,
}

impl Op for WritePolicy<'_> {
    type Outcome = PolicyWriteOutcome;

    fn script(&self) -> &'static ScriptDef {
        &POLICY
    }

    fn args(&self, a: &mut Args<'_, '_>) {
        let write = self.write;
        a.push(match write.mode {
            PolicyMode::Replace => "put",
            PolicyMode::Merge => "patch",
            PolicyMode::Reset => "reset",
        })
        .opt(write.expected_version)
        .push(write.updated_by.as_deref().unwrap_or(""));
        for (field, value) in &write.values {
            a.push(field.name())
                .push(value.map(format_value).unwrap_or_default());
        }
    }

    fn outcome(self, reply: &mut Reply<'_>) -> Result<PolicyWriteOutcome, StoreError> {
        match reply.status.as_str() {
            "ok" => {
                let version = reply.u64()?;
                let updated_at = reply.int()?;
                let mut hash = into_array(reply.next()?)?
                    .into_iter()
                    .map(into_string)
                    .collect::<Result<Vec<_>, _>>()?;
                hash.extend([
                    "~version".to_owned(),
                    version.to_string(),
                    "~updated_at".to_owned(),
                    updated_at.to_string(),
                ]);
                if let Some(by) = &self.write.updated_by {
                    hash.extend(["~updated_by".to_owned(), by.clone()]);
                }
                Ok(PolicyWriteOutcome::Written(parse_policy_hash(
                    self.defaults,
                    &hash,
                )))
            }
            "stale" => Ok(PolicyWriteOutcome::Stale {
                version: reply.u64()?,
            }),
            "invalid" => {
                let field = reply.string()?;
                let message = reply.string()?;
                let field = Field::from_name(&field).map_or(field, |f| f.name().to_owned());
                Ok(PolicyWriteOutcome::Invalid(FieldError::new(field, message)))
            }
            _ => Err(reply.unexpected()),
        }
    }
}
