//! What one sweep of a queue did.

/// What one reaper sweep of a queue did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReapReport {
    pub reclaimed: i64,
    pub promoted: i64,
    pub purged: i64,
    /// Some step hit its bound: sweep again.
    pub more: bool,
    /// The queue has nothing left and its last key was removed: drop it from the registry.
    pub gone: bool,
    /// The queue's tasks per state after the sweep.
    pub counts: crate::model::StateCounts,
    /// Its task groups with ready tasks, and the held ones.
    pub groups: crate::model::GroupTally,
    /// Schedules whose tick has come (fired after the sweep's scripts, `store/schedules`).
    pub schedules_due: u64,
    /// Schedules the queue has.
    pub schedules: u64,
    /// Finished tasks whose outcome is overdue for the tasks that wait for them, and waiting
    /// tasks due for their parents to be (re)linked (delivered after the sweep's scripts,
    /// `store/deps`).
    pub outbox_due: u64,
    pub links_due: u64,
    /// Flows kept in this queue due for a check (forgotten once none of their tasks is left).
    pub flows_due: u64,
    /// Tasks those schedules submitted.
    pub fired: u64,
}
