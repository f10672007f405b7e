//! Queues as wholes, for operators: list them, read one's counts and totals, delete one, and
//! handle its dead letters (list, redrive, purge). Everything reads counters and set sizes or
//! works in bounded batches; nothing scans every task.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tasks::list::TaskList;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::Id;
use crate::http::extract::body::list::List;
use crate::http::extract::body::{Body, Check};
use crate::http::extract::{
    HistoryWindow, HistoryWindowParams, Page, PageParams, QueueParams, QueuePath,
};
use crate::http::problem::ApiError;
use crate::http::responses::{DeadListErrors, QueueErrors, QueueListErrors, RedriveErrors};
use crate::model::{QueueHistory, QueueName, QueueStats, TaskId, TaskState};
use crate::store::queues::Queues;
use crate::store::tasks::Tasks;

/// Most task ids one redrive call may list.
const REDRIVE_IDS_MAX: usize = 1000;

/// One page of queues.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::queue_list)]
pub struct QueueList {
    /// The queues of this page, in name order.
    pub queues: Vec<QueueStats>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// List queues
///
/// Every queue that holds anything or has a policy of its own, in name order, with its counts
/// per state, totals and policy, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/queues",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "queues",
    params(PageParams),
    responses((status = 200, description = "One page of queues", body = QueueList), QueueListErrors)
)]
pub async fn list_queues(
    caller: Caller,
    State(queues): State<Queues>,
    page: Page,
) -> Result<Json<QueueList>, ApiError> {
    let after = page
        .cursor
        .as_deref()
        .map(|cursor| {
            QueueName::parse(cursor)
                .map_err(|_| ApiError::field("cursor", "is not a cursor we gave"))
        })
        .transpose()?;
    let names = queues.list(after.as_ref(), page.limit as usize).await?;
    let full = names.len() == page.limit as usize;
    // A key limited to some queues sees only those; its pages may hold fewer than `limit`.
    let visible = names.iter().filter(|q| caller.sees(q.as_str()));
    let stats = futures_util::future::try_join_all(visible.map(|q| queues.stats(q))).await?;
    // A queue that went away between the listing and its stats is left out.
    let queues: Vec<QueueStats> = stats.into_iter().flatten().collect();
    Ok(Json(QueueList {
        next_cursor: full
            .then(|| names.last().map(ToString::to_string))
            .flatten(),
        queues,
    }))
}

/// Get a queue
///
/// Counts per state, totals (submitted, completed, failed, dead), how long the oldest ready
/// task has waited, and the effective policy. A queue that never existed is `404`.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "queues",
    params(QueueParams),
    responses((status = 200, description = "The queue", body = QueueStats), QueueErrors)
)]
pub async fn get_queue(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
) -> Result<Json<QueueStats>, ApiError> {
    match queues.stats(&queue).await? {
        Some(stats) => Ok(Json(stats)),
        None => Err(no_queue(&queue)),
    }
}

/// Get a queue's history
///
/// A point per minute over the last hour (`window=1h`, the default) or day (`24h`), oldest
/// first, the current minute (so far) last: tasks submitted, completed, failed (attempts),
/// dead and expired in that minute, and the backlog (ready) and in-flight (leased) counts the
/// minute's last sample saw. Kept in Redis by the reaper's sweep as one snapshot a minute in a
/// ring of a day (constant memory per queue); a minute no sweep sampled has no counts of its own
/// (they show in the next sampled minute) and `null` samples.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/history",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "queues",
    params(QueueParams, HistoryWindowParams),
    responses((status = 200, description = "The queue's history", body = QueueHistory), QueueErrors)
)]
pub async fn get_queue_history(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
    window: HistoryWindow,
) -> Result<Json<QueueHistory>, ApiError> {
    match queues.history(&queue, window.minutes).await? {
        Some(points) => Ok(Json(QueueHistory {
            queue: queue.to_string(),
            window: window.name.to_owned(),
            step_ms: 60_000,
            points,
        })),
        None => Err(no_queue(&queue)),
    }
}

/// Delete a queue
///
/// Deletes the queue: every task in every state, its counters and its policy. Workers still
/// holding its leases get `404` for their tasks from then on. Redis frees large queues in the
/// background, so this answers at once whatever the queue holds.
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}",
    security(("bearer" = ["admin"])),
    tag = "queues",
    params(QueueParams),
    responses((status = 204, description = "The queue is gone"), QueueErrors)
)]
pub async fn delete_queue(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
) -> Result<StatusCode, ApiError> {
    let dropped = queues.drop_queue(&queue).await?;
    // Its metric series go with it (or, when it was already gone, whatever was left of them).
    crate::metrics::forget_queue(queue.as_str());
    if dropped {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_queue(&queue))
    }
}

pub(super) fn no_queue(queue: &QueueName) -> ApiError {
    ApiError::NotFound(format!("no queue {queue}"))
}

/// List dead tasks
///
/// The queue's dead tasks (out of attempts, or failed with `retry: false`), oldest first, each
/// with its last error and error history, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/dead",
    security(("bearer" = ["admin"])),
    tag = "dead letters",
    params(QueueParams, PageParams),
    responses((status = 200, description = "One page of dead tasks", body = TaskList), DeadListErrors)
)]
pub async fn list_dead_tasks(
    _caller: Caller,
    State(tasks): State<Tasks>,
    QueuePath(queue): QueuePath,
    page: Page,
) -> Result<Json<TaskList>, ApiError> {
    super::tasks::list::page(&tasks, &queue, TaskState::Dead, page.limit, page.cursor).await
}

/// Body of a redrive: which dead tasks. `{}` redrives them all.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::redrive_request)]
pub struct RedriveRequest {
    /// The dead tasks to redrive (up to 1000 ids); leave out to redrive every dead task.
    #[schema(inline)]
    ids: Option<List<Id, 1, { REDRIVE_IDS_MAX }>>,
}

impl Check for RedriveRequest {}

impl RedriveRequest {
    /// The listed tasks, or `None` for every dead task.
    fn ids(&self) -> Option<Vec<TaskId>> {
        Some(self.ids.as_ref()?.0.iter().map(|id| id.0).collect())
    }
}

/// How many tasks a dead-letter action moved.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"redriven": 3}))]
pub struct Redriven {
    /// Dead tasks now ready again (listed ids that were not dead are not counted).
    pub redriven: u64,
}

/// How many dead tasks were deleted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"purged": 12}))]
pub struct Purged {
    pub purged: u64,
}

/// Redrive dead tasks
///
/// Moves the listed dead tasks (or, with no `ids`, every task dead when the call began) back to
/// `ready`, attempts reset to 0; their error history is kept. Large dead sets move in bounded
/// batches.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/dead:redrive",
    security(("bearer" = ["admin"])),
    tag = "dead letters",
    params(QueueParams),
    request_body(content = RedriveRequest, example = json!(crate::model::examples::redrive_request())),
    responses((status = 200, description = "How many tasks are ready again", body = Redriven), RedriveErrors)
)]
pub async fn redrive_dead_tasks(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
    Body(body): Body<RedriveRequest>,
) -> Result<Json<Redriven>, ApiError> {
    let redriven = queues.redrive(&queue, body.ids().as_deref()).await?;
    Ok(Json(Redriven { redriven }))
}

/// Purge dead tasks
///
/// Deletes every dead task of the queue, in bounded batches, except one whose outcome is
/// still on its way to the tasks that wait for it (README, "Workflows"): retention purges it
/// once delivered.
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/dead",
    security(("bearer" = ["admin"])),
    tag = "dead letters",
    params(QueueParams),
    responses((status = 200, description = "How many dead tasks were deleted", body = Purged), QueueErrors)
)]
pub async fn purge_dead_tasks(
    _caller: Caller,
    State(queues): State<Queues>,
    QueuePath(queue): QueuePath,
) -> Result<Response, ApiError> {
    let purged = queues.purge_dead(&queue).await?;
    Ok(Json(Purged { purged }).into_response())
}
