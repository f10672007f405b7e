//! Task listings: a page of a queue's tasks in one state (`GET /v1/queues/{queue}/tasks`), and
//! the page and cursor shapes the dead-letter listing shares.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::extract::auth::Caller;
use crate::http::extract::{QueueParams, QueuePath, StatePage, StatePageParams};
use crate::http::problem::ApiError;
use crate::http::responses::TaskListErrors;
use crate::model::{GroupName, QueueName, Task, TaskId, TaskState};
use crate::store::tasks::PageCursor;
use crate::store::tasks::Tasks;

/// One page of tasks.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::dead_page)]
pub struct TaskList {
    /// The tasks of this page, in their state's order.
    pub tasks: Vec<Task>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// List a queue's tasks in one state
///
/// A page of the queue's tasks in `state`, in that state's own order: `ready` tasks without a
/// group by priority (highest first, then oldest), then those with a group by group name, each
/// group by priority then age; `scheduled` by when they become ready, `leased` by
/// lease deadline, and `completed`, `dead` and `cancelled` by when they will be purged (oldest
/// first). A listing reads; it does not settle leases that just ran out (the reaper does, within
/// its interval), so a `leased` page may hold a task whose lease ended a moment ago. Pages
/// follow each other through `next_cursor`, also while tasks come and go.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/tasks",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "tasks",
    params(QueueParams, StatePageParams),
    responses((status = 200, description = "One page of tasks", body = TaskList), TaskListErrors)
)]
pub async fn list_tasks(
    _caller: Caller,
    State(tasks): State<Tasks>,
    QueuePath(queue): QueuePath,
    query: StatePage,
) -> Result<Json<TaskList>, ApiError> {
    page(
        &tasks,
        &queue,
        query.state,
        query.page.limit,
        query.page.cursor,
    )
    .await
}

/// A page of `queue`'s tasks in `task_state`, after `cursor` (a `next_cursor` we gave).
pub async fn page(
    tasks: &Tasks,
    queue: &QueueName,
    task_state: TaskState,
    limit: u32,
    cursor: Option<String>,
) -> Result<Json<TaskList>, ApiError> {
    let after = cursor.as_deref().map(parse_cursor).transpose()?;
    let found = tasks.list(queue, task_state, limit, after.as_ref()).await?;
    Ok(Json(TaskList {
        tasks: found.tasks,
        next_cursor: found.next.map(|c| write_cursor(&c)),
    }))
}

/// `<score>_<member>`, where the member is a task id or, in the ready order, `<16 hex>:<id>`
/// (a task without a group) or `<group>~<4 digits><16 hex>:<id>` (one with a group: its space
/// is written `~`, in no group name or id), so the cursor goes into a query string as it is. A
/// member with requirements (`<requirements> <rank>`, or a group's member followed by ` <requirements>`)
/// holds `=` and `,`: it is written `x<hex>` instead.
fn write_cursor(cursor: &PageCursor) -> String {
    let member = &cursor.member;
    if member.contains('=') {
        let hex: String = member.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{}_x{hex}", cursor.score)
    } else {
        format!("{}_{}", cursor.score, member.replace(' ', "~"))
    }
}

/// A member written `x<hex>` by `write_cursor`: its text, when it is one of a ready task with
/// requirements (`<name> <4 digits><16 hex>:<id>`, then maybe ` <requirements>`).
fn hex_member(text: &str) -> Option<String> {
    let hex = text.strip_prefix('x')?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let member = String::from_utf8(bytes).ok()?;
    let mut parts = member.split(' ');
    let (_, rank) = (parts.next()?, parts.next()?);
    TaskId::parse(arrival_id(after_band(rank)?)?).ok()?;
    (parts.count() <= 1 && member.contains('=')).then_some(member)
}

/// What follows the 4-digit priority band a ranked member starts with, or `None`.
fn after_band(rank: &str) -> Option<&str> {
    let digits = rank.get(..4)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| &rank[4..])
}

/// The task id of `<16 hex>:<id>` (an arrival number, then the id), or `None`.
fn arrival_id(ranked: &str) -> Option<&str> {
    let (arrival, id) = ranked.split_once(':')?;
    (arrival.len() == 16 && arrival.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Reads a cursor `write_cursor` wrote.
fn parse_cursor(cursor: &str) -> Result<PageCursor, ApiError> {
    let parsed = cursor.split_once('_').and_then(|(score, member)| {
        let score = score.parse().ok()?;
        if let Some(member) = hex_member(member) {
            return Some(PageCursor { score, member });
        }
        let member = &member.replace('~', " ");
        let ranked = match member.split_once(' ') {
            Some((group, rank)) => {
                GroupName::parse(group).ok()?;
                after_band(rank)?
            }
            None => member,
        };
        let id = if ranked.contains(':') {
            arrival_id(ranked)?
        } else if ranked.len() < member.len() {
            return None; // a grouped member without its arrival number
        } else {
            member
        };
        TaskId::parse(id).ok()?;
        Some(PageCursor {
            score,
            member: member.to_owned(),
        })
    });
    parsed.ok_or_else(|| ApiError::field("cursor", "is not a cursor we gave"))
}
