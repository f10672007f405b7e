//! Path extractors. Every rejection is an `ApiError`, so a bad queue name or task id comes out as
//! a problem+json naming the parameter, before anything reaches the store. Bodies are read in
//! `body.rs`.

pub mod auth;
pub mod body;
mod flow;
mod group;
mod schedule;
mod window;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use utoipa::IntoParams;

use crate::http::problem::ApiError;
use crate::model::{FieldError, QueueName, TaskId, TaskState};
pub use flow::{FlowParams, FlowPath};
pub use group::{GroupParams, GroupPath};
pub use schedule::{ScheduleParams, SchedulePath, TRIGGER_SUFFIX, TriggerPath};
pub use window::{HistoryWindow, HistoryWindowParams};

/// The `{queue}` path parameter, checked.
pub struct QueuePath(pub QueueName);

/// The `{queue}` and `{id}` path parameters, checked.
pub struct TaskPath {
    pub queue: QueueName,
    pub id: TaskId,
}

/// Path parameters of queue routes (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct QueueParams {
    /// Queue name: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    #[param(example = "emails", pattern = "^[A-Za-z0-9._-]{1,128}$")]
    queue: String,
}

/// Path parameters of task routes (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TaskParams {
    /// Queue name: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    #[param(example = "emails", pattern = "^[A-Za-z0-9._-]{1,128}$")]
    queue: String,
    /// Task id, as returned by submit.
    #[param(example = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11", format = Uuid)]
    id: String,
}

pub(super) async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    Ok(params)
}

pub(super) fn queue_param(params: &HashMap<String, String>) -> Result<QueueName, FieldError> {
    QueueName::parse(params.get("queue").map_or("", String::as_str))
}

impl<S: Send + Sync> FromRequestParts<S> for QueuePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        queue_param(&params)
            .map(Self)
            .map_err(|e| ApiError::Validation(vec![e]))
    }
}

impl TaskPath {
    /// The 404 for this task.
    pub fn not_found(&self) -> ApiError {
        ApiError::NotFound(format!("no task {} in queue {}", self.id, self.queue))
    }

    /// The 404 for a task whose stored record could not be read and was moved aside.
    pub fn quarantined(&self) -> ApiError {
        ApiError::NotFound(format!(
            "task {} in queue {} was moved to the queue's quarantine: its stored record could \
             not be read (see the server log)",
            self.id, self.queue
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TaskPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let queue = queue_param(&params);
        let id = TaskId::parse(params.get("id").map_or("", String::as_str));
        match (queue, id) {
            (Ok(queue), Ok(id)) => Ok(Self { queue, id }),
            (queue, id) => Err(ApiError::Validation(
                [queue.err(), id.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// Most items one page of a listing holds, and how many it holds by default.
pub const PAGE_MAX: u32 = 100;
pub const PAGE_DEFAULT: u32 = 50;

/// The `limit` and `cursor` query parameters of a listing, checked.
pub struct Page {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Query parameters of a listing (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Most items in this page (1 to 100, default 50).
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<u32>,
    /// Where to continue: the `next_cursor` of the previous page (opaque).
    cursor: Option<String>,
}

impl Page {
    fn take(query: &mut QueryArgs) -> Page {
        let limit = query.int("limit", 1, PAGE_MAX).unwrap_or(PAGE_DEFAULT);
        let cursor = query.take("cursor");
        Page { limit, cursor }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut query = QueryArgs::read(parts, state, &["limit", "cursor"]).await?;
        let page = Page::take(&mut query);
        query.finish()?;
        Ok(page)
    }
}

/// The query of a task listing: which state, and the page.
pub struct StatePage {
    pub state: TaskState,
    pub page: Page,
}

/// Query parameters of a task listing (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatePageParams {
    /// The state whose tasks to list.
    state: TaskState,
    /// Most items in this page (1 to 100, default 50).
    #[param(minimum = 1, maximum = 100, default = 50)]
    limit: Option<u32>,
    /// Where to continue: the `next_cursor` of the previous page (opaque).
    cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for StatePage {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut query = QueryArgs::read(parts, state, &["state", "limit", "cursor"]).await?;
        let named = query.take("state");
        let page = Page::take(&mut query);
        let task_state = named.as_deref().and_then(TaskState::parse);
        if task_state.is_none() {
            query.errors.push(FieldError::new(
                "state",
                format!("must be one of {}", TaskState::names()),
            ));
        }
        // Every problem of the query is reported together, so `finish` runs before the state is
        // required; without a state it has already returned the 422.
        query.finish()?;
        let state = task_state.ok_or_else(|| ApiError::field("state", "is required"))?;
        Ok(StatePage { state, page })
    }
}

/// Longest a result wait may be asked to wait, in ms.
pub const RESULT_WAIT_MS_MAX: u32 = 60_000;

/// The `wait_ms` query parameter of a task read, checked.
pub struct ResultWait(pub std::time::Duration);

/// Query parameters of a task read (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ResultWaitParams {
    /// Wait up to this long (0 to 60000 ms) for the task to be finished (completed, dead or
    /// cancelled); the answer comes as soon as it is, or at the end of the wait with the task
    /// as it is then.
    #[param(minimum = 0, maximum = 60000, default = 0)]
    wait_ms: Option<u32>,
}

impl<S: Send + Sync> FromRequestParts<S> for ResultWait {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut query = QueryArgs::read(parts, state, &["wait_ms"]).await?;
        let wait = query.int("wait_ms", 0, RESULT_WAIT_MS_MAX).unwrap_or(0);
        query.finish()?;
        Ok(ResultWait(std::time::Duration::from_millis(wait.into())))
    }
}

/// A request's query parameters, read one by one; unknown ones and bad values are problems.
struct QueryArgs {
    pairs: Vec<(String, String)>,
    known: &'static [&'static str],
    errors: Vec<FieldError>,
}

impl QueryArgs {
    async fn read<S: Send + Sync>(
        parts: &mut Parts,
        state: &S,
        known: &'static [&'static str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
        Ok(Self {
            pairs,
            known,
            errors: Vec::new(),
        })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.remove(at).1)
    }

    fn int(&mut self, name: &str, min: u32, max: u32) -> Option<u32> {
        let value = self.take(name)?;
        match value.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.errors.push(FieldError::new(
                    name,
                    format!("must be a whole number from {min} to {max}"),
                ));
                None
            }
        }
    }

    fn finish(mut self) -> Result<(), ApiError> {
        let known = self.known.join(", ");
        for (name, _) in self.pairs {
            self.errors.push(FieldError::new(
                name,
                format!("is not a query parameter of this request (known: {known})"),
            ));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// The value of header `name`, or `None` when it is absent. Given more than once it is a
/// problem naming it (`shown`, as users write it): which of the values would count is not
/// defined, and using one silently would ignore the other.
pub fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    shown: &str,
) -> Result<Option<&'h HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::field(
            shown,
            format!(
                "is given {} times; send it once",
                headers.get_all(name).iter().count()
            ),
        ));
    }
    Ok(first)
}

/// The header that asks for replicated durability.
pub const DURABILITY: &str = "taskgate-durability";
/// The header that says how many replicas confirmed a replicated write.
pub const REPLICAS: &str = "taskgate-replicas";

/// `Taskgate-Durability: replicated`: answer only once the change is on the configured number
/// of replicas (Redis `WAIT`). Absent: answer once the primary has it.
pub struct Durability(pub Option<crate::store::Replication>);

impl FromRequestParts<super::state::RouterState> for Durability {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::state::RouterState,
    ) -> Result<Self, ApiError> {
        match single_header(&parts.headers, DURABILITY, "Taskgate-Durability")?
            .map(|v| v.to_str().unwrap_or(""))
        {
            None => Ok(Self(None)),
            Some(value) if value.eq_ignore_ascii_case("replicated") => {
                Ok(Self(Some(state.replication)))
            }
            Some(_) => Err(ApiError::field(
                "Taskgate-Durability",
                "must be `replicated` (or leave the header out)",
            )),
        }
    }
}

impl Durability {
    /// Whether `confirmed` replicas are enough: `Ok` with the header to answer with, or the
    /// `503` that says the change is on the primary only.
    pub fn check(&self, confirmed: u32, what: &str) -> Result<HeaderMap, ApiError> {
        let mut headers = HeaderMap::new();
        let Some(replication) = self.0 else {
            return Ok(headers);
        };
        if confirmed < replication.replicas {
            return Err(ApiError::NotReplicated(format!(
                "{what} is stored on the primary, but {confirmed} of the {} replicas asked for \
                 confirmed it within {} ms: a failover now could lose it. Retrying is safe \
                 (with the same Idempotency-Key for a submit, or each task's idempotency_key \
                 in a batch; an ack is replayed).",
                replication.replicas,
                replication.timeout.as_millis()
            )));
        }
        headers.insert(
            HeaderName::from_static(REPLICAS),
            HeaderValue::from(confirmed),
        );
        Ok(headers)
    }
}
