//! Path extractors. Every rejection is an `ApiError`, so a bad queue name or task id comes out as
//! a problem+json naming the parameter, before anything reaches the store. Bodies are read in
//! `body.rs`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::model::{FieldError, QueueName, TaskId};

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

async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    Ok(params)
}

fn queue_param(params: &HashMap<String, String>) -> Result<QueueName, FieldError> {
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

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
        let mut page = Page {
            limit: PAGE_DEFAULT,
            cursor: None,
        };
        let mut errors = Vec::new();
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=PAGE_MAX).contains(&n) => page.limit = n,
                    _ => errors.push(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {PAGE_MAX}"),
                    )),
                },
                "cursor" => page.cursor = Some(value),
                other => errors.push(FieldError::new(
                    other,
                    "is not a query parameter of this request (known: cursor, limit)",
                )),
            }
        }
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}
