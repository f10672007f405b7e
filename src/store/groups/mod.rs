//! The groups service: a queue's task groups as a resource (README, "Distribution
//! strategies"): read one (`view.rs`), page through them, and write a group's own limits under
//! `If-Match` (`write.rs`). The dispatch scripts keep the groups' bookkeeping themselves
//! (`prelude/groups.lua`).

mod view;
mod write;

pub use write::{GroupWrite, GroupWriteOutcome};
pub(crate) use {view::VIEW, write::WRITE};

use super::registry::Registry;
use super::{Engine, StoreError};
use crate::model::{GroupName, GroupPage, GroupView, QueueName};
use view::{ViewGroups, Which};

/// Task groups. Cheap to clone.
#[derive(Clone)]
pub struct Groups {
    engine: Engine,
    registry: Registry,
}

impl Groups {
    pub(super) fn new(engine: Engine, registry: Registry) -> Self {
        Self { engine, registry }
    }

    /// One group (idle, with the queue's defaults, when it has no tasks and no overrides).
    pub async fn group(
        &self,
        queue: &QueueName,
        group: &GroupName,
    ) -> Result<GroupView, StoreError> {
        let op = ViewGroups {
            which: Which::One(group),
        };
        let (mut groups, _) = self.engine.run(queue, op).await?;
        groups
            .pop()
            .ok_or_else(|| StoreError::Corrupt("the group view is empty".into()))
    }

    /// The groups that have live tasks or overrides, by name, after `after`.
    pub async fn page(
        &self,
        queue: &QueueName,
        after: Option<&GroupName>,
        limit: u32,
    ) -> Result<GroupPage, StoreError> {
        let op = ViewGroups {
            which: Which::Page {
                after: after.map_or("", GroupName::as_str),
                limit,
            },
        };
        let (groups, more) = self.engine.run(queue, op).await?;
        let next_cursor = more
            .then(|| groups.last().map(|g| g.group.clone()))
            .flatten();
        Ok(GroupPage {
            groups,
            next_cursor,
        })
    }

    /// Changes a group's own limits (atomically with the `If-Match` check); they apply to the
    /// very next lease. Writing a group creates its queue.
    pub async fn write(
        &self,
        queue: &QueueName,
        write: &GroupWrite,
    ) -> Result<GroupWriteOutcome, StoreError> {
        let outcome = self.engine.run(queue, write::WriteGroup { write }).await?;
        if matches!(outcome, GroupWriteOutcome::Written(_)) {
            self.registry.note_queue(queue);
        }
        Ok(outcome)
    }
}
