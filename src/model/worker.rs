//! The workers a queue has seen: who called lately, what each holds and has done.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// What one worker (or the anonymous ones, together) did within the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct WorkerCounts {
    /// Its last lease or heartbeat call (RFC 3339, Redis clock).
    pub last_seen: String,
    /// Leases it holds now.
    pub leases_held: u64,
    /// Tasks leased to it within the window.
    pub leased: u64,
    /// Tasks it completed within the window.
    pub completed: u64,
    /// Attempts of its that failed within the window (explicit fails and expired leases).
    pub failed: u64,
    /// The `labels` of its last lease call (for the anonymous workers: of the last anonymous
    /// call); `{}` when it gave none.
    pub labels: BTreeMap<String, String>,
}

/// A worker, by the name it gives in its lease calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct WorkerView {
    pub name: String,
    /// In `GET /v1/workers`: the queues it called within the window, by name (its counts are
    /// summed over them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    /// Its last lease or heartbeat call (RFC 3339, Redis clock).
    pub last_seen: String,
    /// Leases it holds now.
    pub leases_held: u64,
    /// Tasks leased to it within the window.
    pub leased: u64,
    /// Tasks it completed within the window.
    pub completed: u64,
    /// Attempts of its that failed within the window (explicit fails and expired leases).
    pub failed: u64,
    /// The `labels` of its last lease call; `{}` when it gave none. In `GET /v1/workers`, those
    /// of its latest call on any queue.
    pub labels: BTreeMap<String, String>,
}

impl WorkerView {
    /// A worker with nothing counted yet.
    pub fn named(name: String) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// A worker of one queue, from its counts.
    pub fn of(name: String, counts: WorkerCounts) -> Self {
        Self {
            name,
            queues: None,
            last_seen: counts.last_seen,
            leases_held: counts.leases_held,
            leased: counts.leased,
            completed: counts.completed,
            failed: counts.failed,
            labels: counts.labels,
        }
    }
}

/// The workers seen on a queue within the window.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::queue_workers)]
pub struct QueueWorkers {
    pub queue: String,
    /// How long after its last call a worker is listed (ms: the queue's `workers_window_ms`);
    /// counts cover the same span, by whole minutes.
    pub window_ms: u64,
    /// By name.
    pub workers: Vec<WorkerView>,
    /// The workers that gave no name, counted together; `null` when none called.
    pub anonymous: Option<WorkerCounts>,
    /// Calls from new names the queue did not record because it already kept its most names
    /// (1000), since the queue was created.
    pub unlisted: u64,
}

/// Every worker seen within the window on the queues the caller may read.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = crate::model::examples::workers)]
pub struct WorkerList {
    /// The longest `workers_window_ms` of the queues read (0 when none was): each queue lists
    /// and counts its workers over its own.
    pub window_ms: u64,
    /// By name, each with the queues it called.
    pub workers: Vec<WorkerView>,
}
