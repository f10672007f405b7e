//! Flows (SPEC §11): many tasks, across queues, submitted at once with dependencies between
//! them by local reference, stored all or nothing. A flow's id names the queue that keeps its
//! record (its first task's) and a UUID: `<queue>~<uuid>`.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{FieldError, QueueName, TaskState};

/// Most tasks one flow may hold.
pub const FLOW_TASKS_MAX: usize = 1_000;
/// Longest local reference, in characters (`FLOW_REF_PATTERN`).
pub const FLOW_REF_MAX: usize = 128;
pub const FLOW_REF_PATTERN: &str = "^[A-Za-z0-9._:@-]{1,128}$";
/// How long a flow may take from its first task stored to its commit: past it, a flow not
/// committed never will be, and its stored tasks are cancelled unrun.
pub const FLOW_COMMIT_MS: u64 = 60_000;

/// A flow's id: the queue that keeps its record, and its UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowId {
    pub home: QueueName,
    pub uuid: Uuid,
}

impl FlowId {
    pub fn new(home: QueueName) -> Self {
        Self {
            home,
            uuid: Uuid::now_v7(),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("id", "must be a flow id (`<queue>~<uuid>`)");
        let (home, uuid) = raw.split_once('~').ok_or_else(bad)?;
        Ok(Self {
            home: QueueName::parse(home).map_err(|_| bad())?,
            uuid: Uuid::try_parse(uuid).map_err(|_| bad())?,
        })
    }

    /// The name its tasks know their flow's commit by, as a parent in its home queue.
    pub fn commit_parent(&self) -> String {
        format!("~{}", self.uuid.hyphenated())
    }
}

impl std::fmt::Display for FlowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}~{}", self.home, self.uuid.hyphenated())
    }
}

/// One task of a flow, as the flow shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlowTask {
    /// Its local reference in the flow.
    #[serde(rename = "ref")]
    pub reference: String,
    pub queue: String,
    pub id: String,
    /// Its state now; `null` once it has been purged.
    pub state: Option<TaskState>,
}

/// A flow and each of its tasks' states.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::flow)]
pub struct Flow {
    /// `<queue>~<uuid>`: the queue keeps the flow's record.
    pub id: String,
    /// When it was stored (RFC 3339, Redis clock).
    pub created_at: String,
    /// True once every task has finished (or been purged).
    pub finished: bool,
    pub tasks: Vec<FlowTask>,
}

impl Flow {
    /// Whether every task has finished.
    pub fn all_finished(tasks: &[FlowTask]) -> bool {
        tasks
            .iter()
            .all(|t| t.state.is_none_or(TaskState::is_terminal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_id_reads_back() {
        let id = FlowId::new(QueueName::parse("thumbs").unwrap());
        assert_eq!(FlowId::parse(&id.to_string()).unwrap(), id);
        for bad in [
            "thumbs",
            "a b~x",
            "~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e",
            "q~nope",
        ] {
            assert!(FlowId::parse(bad).is_err(), "{bad}");
        }
    }
}
