//! The policies service: reading a queue's own values and writing them under `If-Match`
//! (`policy.rs`, `policy.lua`). The dispatch scripts read the policy themselves.

mod policy;
mod types;

pub(crate) use policy::POLICY;
pub(super) use policy::push_write;
pub use types::*;

use deadpool_redis::redis;

use super::registry::Registry;
use super::{Engine, StoreError};
use crate::model::{Field, QueueName, QueuePolicy};

/// Queue policies. Cheap to clone.
#[derive(Clone)]
pub struct Policies {
    engine: Engine,
    registry: Registry,
}

impl Policies {
    pub(super) fn new(engine: Engine, registry: Registry) -> Self {
        Self { engine, registry }
    }

    /// The queue's policy: effective values, its own fields, version.
    pub async fn policy(&self, queue: &QueueName) -> Result<PolicyState, StoreError> {
        let key = self.engine.keys().queue_key(queue, "policy");
        let hash: Vec<String> = self.engine.query(redis::cmd("HGETALL").arg(key)).await?;
        Ok(parse_policy_hash(self.engine.defaults(), &hash))
    }

    /// Changes the queue's own policy values (atomically with the `If-Match` check). Setting a
    /// policy creates the queue.
    pub async fn write_policy(
        &self,
        queue: &QueueName,
        write: &PolicyWrite,
    ) -> Result<PolicyWriteOutcome, StoreError> {
        let op = policy::WritePolicy {
            write,
            defaults: self.engine.defaults(),
        };
        let outcome = self.engine.run(queue, op).await?;
        if matches!(outcome, PolicyWriteOutcome::Written(_)) {
            self.registry.note_queue(queue);
        }
        Ok(outcome)
    }
}

/// A policy value as stored: whole numbers without a fraction.
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

/// Reads a `policy` hash (field, value, field, value, ...) over the server's defaults. Values
/// that do not parse, or break their field's bounds, are ignored, as the scripts ignore them.
pub fn parse_policy_hash(defaults: &QueuePolicy, hash: &[String]) -> PolicyState {
    let mut own = Vec::new();
    let (mut version, mut updated_at, mut updated_by) = (0, None, None);
    for pair in hash.chunks(2) {
        let [name, value] = pair else { continue };
        match name.as_str() {
            "~version" => version = value.parse().unwrap_or(0),
            "~updated_at" => updated_at = value.parse().ok(),
            "~updated_by" => updated_by = Some(value.clone()).filter(|v| !v.is_empty()),
            name => {
                if let (Some(field), Ok(value)) = (Field::from_name(name), value.parse::<f64>()) {
                    if field.problem(value).is_none() {
                        own.push((field, value));
                    }
                }
            }
        }
    }
    own.sort_by_key(|(field, _)| *field);
    PolicyState {
        effective: defaults.with(&own),
        own: own.into_iter().map(|(field, _)| field).collect(),
        version,
        updated_at,
        updated_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stored_without_needless_fractions() {
        assert_eq!(format_value(30000.0), "30000");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(2.0), "2");
    }
}
