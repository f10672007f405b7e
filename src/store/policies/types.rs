//! A queue's policy as the policies service reads and writes it.

use crate::model::{Field, FieldError, QueuePolicy};

/// A queue's policy: effective values, which are its own, and its version.
#[derive(Debug, Clone)]
pub struct PolicyState {
    pub effective: QueuePolicy,
    /// The fields the queue sets itself, in `Field::ALL` order.
    pub own: Vec<Field>,
    /// Grows by one on every change; 0 for a queue that never had a policy of its own.
    pub version: u64,
    /// When it last changed (ms since the epoch, Redis clock).
    pub updated_at: Option<i64>,
    /// Who changed it last, when known.
    pub updated_by: Option<String>,
}

/// How a policy write applies its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    /// The given values become the queue's own; every other field reverts to the default.
    Replace,
    /// The given values are set, those given as `None` revert to the default (JSON merge
    /// patch), others are kept.
    Merge,
    /// Every field reverts to the default.
    Reset,
}

/// A checked policy write.
#[derive(Debug, Clone)]
pub struct PolicyWrite {
    pub mode: PolicyMode,
    /// The `If-Match` version, when given.
    pub expected_version: Option<u64>,
    pub updated_by: Option<String>,
    /// Values to set (`Some`) or to revert to the default (`None`).
    pub values: Vec<(Field, Option<f64>)>,
}

/// How a policy write ended.
#[derive(Debug)]
pub enum PolicyWriteOutcome {
    Written(Box<PolicyState>),
    /// `If-Match` named another version; nothing changed.
    Stale {
        version: u64,
    },
    /// The merged policy breaks a rule between fields; nothing changed.
    Invalid(FieldError),
}
