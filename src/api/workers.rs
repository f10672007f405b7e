//! The workers: who has called a queue lately (`GET /v1/queues/{queue}/workers`), and every
//! worker across the queues the caller may read (`GET /v1/workers`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;

use super::queues::no_queue;
use crate::http::extract::auth::Caller;
use crate::http::extract::{QueueParams, QueuePath};
use crate::http::problem::ApiError;
use crate::http::responses::{QueueErrors, WorkerListErrors};
use crate::model::{QueueWorkers, WorkerList, WorkerView};
use crate::store::queues::Queues;

/// Queues read per step of `GET /v1/workers`.
const QUEUES_PER_STEP: usize = 100;

/// List a queue's workers
///
/// The workers that called the queue (a lease or a heartbeat) within its policy's
/// `workers_window_ms` (default 5 minutes), by the
/// name they give in their lease calls: when each last called, the leases it holds now, and the
/// tasks leased to it, completed and failed within the window. Workers that give no name are
/// counted together (`anonymous`), never listed. A queue keeps at most 1000 names; a worker
/// silent past the window is dropped by the reaper and makes room.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/workers",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "workers",
    params(QueueParams),
    responses((status = 200, description = "The queue's workers", body = QueueWorkers), QueueErrors)
)]
pub async fn list_queue_workers(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
) -> Result<Json<QueueWorkers>, ApiError> {
    let seen = queues
        .workers(&queue)
        .await?
        .ok_or_else(|| no_queue(&queue))?;
    Ok(Json(QueueWorkers {
        queue: queue.to_string(),
        window_ms: seen.window_ms,
        workers: seen.named,
        anonymous: seen.anonymous,
        unlisted: seen.unlisted,
    }))
}

/// List every worker
///
/// Every named worker that called any queue the caller may read within that queue's
/// `workers_window_ms` (default 5 minutes),
/// with the queues it called, its latest call, and its leases and counts summed over them.
#[utoipa::path(
    get,
    path = "/v1/workers",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "workers",
    responses((status = 200, description = "Every worker", body = WorkerList), WorkerListErrors)
)]
pub async fn list_workers(
    caller: Caller,
    State(queues): State<Queues>,
) -> Result<Json<WorkerList>, ApiError> {
    let mut by_name: BTreeMap<String, WorkerView> = BTreeMap::new();
    let mut longest = 0;
    let mut after = None;
    loop {
        let names = queues.list(after.as_ref(), QUEUES_PER_STEP).await?;
        let visible: Vec<_> = names.iter().filter(|q| caller.sees(q.as_str())).collect();
        let seen =
            futures_util::future::try_join_all(visible.iter().map(|q| queues.workers(q))).await?;
        for (queue, workers) in visible.iter().zip(seen) {
            // A queue that went away between the listing and its read is left out.
            let Some(workers) = workers else { continue };
            longest = longest.max(workers.window_ms);
            for worker in workers.named {
                let sum = by_name
                    .entry(worker.name.clone())
                    .or_insert_with(|| WorkerView::named(worker.name.clone()));
                sum.queues
                    .get_or_insert_with(Vec::new)
                    .push(queue.to_string());
                if worker.last_seen >= sum.last_seen {
                    sum.last_seen = worker.last_seen;
                    sum.labels = worker.labels;
                }
                sum.leases_held += worker.leases_held;
                sum.leased += worker.leased;
                sum.completed += worker.completed;
                sum.failed += worker.failed;
            }
        }
        if names.len() < QUEUES_PER_STEP {
            break;
        }
        after = names.last().cloned();
    }
    Ok(Json(WorkerList {
        window_ms: longest,
        workers: by_name.into_values().collect(),
    }))
}
