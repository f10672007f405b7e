//! Path extractors. Every rejection is an `ApiError`, so a bad queue name or task id comes out as
//! a problem+json naming the parameter, before anything reaches the store. Bodies are read in
//! `body.rs`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
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
