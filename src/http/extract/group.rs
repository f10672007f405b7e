//! The `{queue}` and `{group}` path parameters of a group's routes, checked.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa::IntoParams;

use super::{path_params, queue_param};
use crate::http::problem::ApiError;
use crate::model::{GroupName, QueueName};

/// The `{queue}` and `{group}` path parameters, checked.
pub struct GroupPath {
    pub queue: QueueName,
    pub group: GroupName,
}

/// Path parameters of group routes (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct GroupParams {
    /// Queue name: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    #[param(example = "emails", pattern = "^[A-Za-z0-9._-]{1,128}$")]
    queue: String,
    /// Group name: 1-128 characters of `A-Z a-z 0-9 . _ : @ -`.
    #[param(example = "tenant-42", pattern = "^[A-Za-z0-9._:@-]{1,128}$")]
    group: String,
}

impl<S: Send + Sync> FromRequestParts<S> for GroupPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        let queue = queue_param(&params);
        let group = GroupName::parse(params.get("group").map_or("", String::as_str));
        match (queue, group) {
            (Ok(queue), Ok(group)) => Ok(Self { queue, group }),
            (queue, group) => Err(ApiError::Validation(
                [queue.err(), group.err()].into_iter().flatten().collect(),
            )),
        }
    }
}
