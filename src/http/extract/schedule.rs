//! The `{queue}` and `{name}` path parameters of a schedule's routes, checked; and the same
//! for its trigger, `…/schedules/{name}:trigger`, which the router serves as a `POST` on
//! `…/schedules/{name}` (it cannot match a parameter followed by text in one segment).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa::IntoParams;

use super::{path_params, queue_param};
use crate::http::problem::ApiError;
use crate::model::QueueName;
use crate::model::schedule::ScheduleName;

/// The verb a trigger's path ends with.
pub const TRIGGER_SUFFIX: &str = ":trigger";

/// The `{queue}` and `{name}` path parameters, checked.
pub struct SchedulePath {
    pub queue: QueueName,
    pub name: ScheduleName,
}

/// `…/schedules/{name}:trigger`, checked.
pub struct TriggerPath(pub SchedulePath);

/// Path parameters of schedule routes (OpenAPI only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ScheduleParams {
    /// Queue name: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    #[param(example = "emails", pattern = "^[A-Za-z0-9._-]{1,128}$")]
    queue: String,
    /// Schedule name: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    #[param(example = "nightly-digest", pattern = "^[A-Za-z0-9._-]{1,128}$")]
    name: String,
}

async fn read<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    suffix: &str,
) -> Result<SchedulePath, ApiError> {
    let params = path_params(parts, state).await?;
    let queue = queue_param(&params);
    let raw = params.get("name").map_or("", String::as_str);
    let Some(raw) = raw.strip_suffix(suffix) else {
        return Err(ApiError::NotFound(format!(
            "no operation here: a schedule is triggered with POST …/schedules/{raw}{TRIGGER_SUFFIX}"
        )));
    };
    match (queue, ScheduleName::parse(raw)) {
        (Ok(queue), Ok(name)) => Ok(SchedulePath { queue, name }),
        (queue, name) => Err(ApiError::Validation(
            [queue.err(), name.err()].into_iter().flatten().collect(),
        )),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SchedulePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        read(parts, state, "").await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TriggerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        read(parts, state, TRIGGER_SUFFIX).await.map(TriggerPath)
    }
}
