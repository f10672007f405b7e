//! The error responses of each operation, for the OpenAPI document. Examples are produced by
//! `ApiError::problem` itself, so the document shows exactly what the server sends.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Type};

use crate::http::problem::ApiError;
use crate::model::FieldError;

/// One documented response per error, keyed by status.
pub fn problems(errors: Vec<ApiError>) -> BTreeMap<String, RefOr<Response>> {
    errors
        .into_iter()
        .map(|error| {
            let problem = error.problem();
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(serde_json::to_value(&problem).ok())
                .build();
            let mut response = ResponseBuilder::new()
                .description(format!("`{}`: {}", problem.kind, problem.title))
                .content("application/problem+json", content);
            let header = |kind, description: &str| {
                HeaderBuilder::new()
                    .schema(Some(utoipa::openapi::schema::Object::with_type(kind)))
                    .description(Some(description))
                    .build()
            };
            if matches!(error, ApiError::Unavailable(_)) {
                response = response.header(
                    "Retry-After",
                    header(Type::Integer, "Seconds to wait before retrying"),
                );
            }
            if matches!(error, ApiError::Unauthorized(_)) {
                response = response.header(
                    "WWW-Authenticate",
                    header(Type::String, "`Bearer realm=\"taskgate\"`"),
                );
            }
            (problem.status.to_string(), response.build().into())
        })
        .collect()
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(field, message)])
}

fn malformed() -> ApiError {
    ApiError::Malformed(
        "the body is not valid JSON (it ends too early at line 1, column 15)".into(),
    )
}

fn too_large(field: &str) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "{field} is 1048577 bytes of JSON; the limit is 1048576"
    ))
}

fn unknown_task() -> ApiError {
    ApiError::NotFound("no task 019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11 in queue emails".into())
}

fn unavailable() -> ApiError {
    ApiError::Unavailable(String::new())
}

fn internal() -> ApiError {
    ApiError::Internal(String::new())
}

/// Declares the error responses of one operation; its `422` example names one of that
/// operation's own fields.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: [$($error:expr),* $(,)?]) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problems(vec![$($error),*])
            }
        }
    };
}

error_set!(
    /// Errors of a submit.
    SubmitErrors: [
        malformed(),
        too_large("payload"),
        ApiError::UnsupportedMediaType,
        invalid("priority", "must be a whole number from -1000 to 1000"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a batch submit as a whole (each task's own problems are in the answer).
    BatchErrors: [
        malformed(),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("tasks", "must list 1 to 1000 tasks"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a lease call.
    LeaseErrors: [
        malformed(),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("max_tasks", "must be a whole number from 1 to 100"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of reading a task.
    ReadErrors: [
        unknown_task(),
        invalid("id", "must be a task id (a UUID)"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a heartbeat.
    HeartbeatErrors: [
        malformed(),
        unknown_task(),
        ApiError::LeaseLost,
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("lease_ms", "must be a whole number from 1000 to 86400000"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of an ack.
    AckErrors: [
        malformed(),
        unknown_task(),
        ApiError::LeaseLost,
        too_large("result"),
        ApiError::UnsupportedMediaType,
        invalid("lease_id", "is required"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a fail.
    FailErrors: [
        malformed(),
        unknown_task(),
        ApiError::LeaseLost,
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("error", "is required"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a cancel.
    CancelErrors: [
        unknown_task(),
        ApiError::Conflict("task 019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11 is completed: there is nothing to cancel".into()),
        invalid("id", "must be a task id (a UUID)"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a multi-queue lease call.
    LeaseAcrossErrors: [
        malformed(),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("queues[1]", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of reading a policy.
    PolicyReadErrors: [
        invalid("queue", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of writing a policy.
    PolicyWriteErrors: [
        malformed(),
        ApiError::PreconditionFailed(
            "the policy of queue emails is at version 4, not the one in If-Match: read it again \
             and re-apply your change"
                .into()
        ),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("backoff.jitter", "must be a number from 0 to 1"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of resetting a policy.
    PolicyResetErrors: [
        ApiError::PreconditionFailed(
            "the policy of queue emails is at version 4, not the one in If-Match: read it again \
             and re-apply your change"
                .into()
        ),
        invalid("queue", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of reading a group.
    GroupReadErrors: [
        invalid("group", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of listing a queue's groups.
    GroupListErrors: [
        invalid("limit", "must be a whole number from 1 to 100"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of writing a group's limits.
    GroupWriteErrors: [
        malformed(),
        ApiError::PreconditionFailed(
            "the limit set of group tenant-42 in queue emails is at version 1764896957123, not the \
             one in If-Match: read it again and re-apply your change"
                .into()
        ),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("weight", "must be a whole number from 1 to 1000"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of resetting a group's limits.
    GroupResetErrors: [
        ApiError::PreconditionFailed(
            "the limit set of group tenant-42 in queue emails is at version 1764896957123, not the \
             one in If-Match: read it again and re-apply your change"
                .into()
        ),
        invalid("group", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of reading or deleting a queue.
    QueueErrors: [
        ApiError::NotFound("no queue emails".into()),
        invalid("queue", "must be 1-128 characters of A-Z a-z 0-9 . _ -"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of listing every worker.
    WorkerListErrors: [unavailable(), internal()]
);

error_set!(
    /// Errors of listing queues.
    QueueListErrors: [
        invalid("limit", "must be a whole number from 1 to 100"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of listing dead tasks.
    DeadListErrors: [
        invalid("cursor", "is not a cursor we gave"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of listing a state's tasks.
    TaskListErrors: [
        invalid("state", &format!("must be one of {}", crate::model::TaskState::names())),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of a redrive.
    RedriveErrors: [
        malformed(),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("ids[0]", "must be a task id (a UUID)"),
        unavailable(),
        internal(),
    ]
);

error_set!(
    /// Errors of the readiness probe.
    ReadinessErrors: [unavailable()]
);

error_set!(
    /// Errors of a batch ack as a whole (each ack's own problems are in the answer).
    AckBatchErrors: [
        malformed(),
        too_large("the request body"),
        ApiError::UnsupportedMediaType,
        invalid("acks", "must list 1 to 1000 acks"),
        unavailable(),
        internal(),
    ]
);

/// Header set on a `200` that repeats an earlier, already applied call.
const REPLAYED: axum::http::HeaderName = axum::http::HeaderName::from_static("idempotent-replayed");

/// A `200` with `body` that repeats an earlier call, marked `Idempotent-Replayed: true`.
pub fn replayed(body: impl axum::response::IntoResponse) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(REPLAYED, axum::http::HeaderValue::from_static("true"))],
        body,
    )
        .into_response()
}

mod flows;
mod schedules;
pub use flows::*;
pub use schedules::*;
