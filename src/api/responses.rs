//! The error responses of each operation, for the OpenAPI document. Examples are produced by
//! `ApiError::problem` itself, so the document shows exactly what the server sends.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Type};

use crate::error::ApiError;
use crate::model::FieldError;

fn problem_responses(errors: Vec<ApiError>) -> BTreeMap<String, RefOr<Response>> {
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
            if matches!(error, ApiError::Unavailable(_)) {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(utoipa::openapi::schema::Object::with_type(
                            Type::Integer,
                        )))
                        .description(Some("Seconds to wait before retrying"))
                        .build(),
                );
            }
            (problem.status.to_string(), response.build().into())
        })
        .collect()
}

fn invalid() -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "max_tasks",
        "must be between 1 and 100",
    )])
}

fn malformed() -> ApiError {
    ApiError::Malformed("the body is not valid JSON: EOF while parsing an object".into())
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(
        "payload is 1048577 bytes of compact JSON; the limit is 1048576".into(),
    )
}

fn unknown_task() -> ApiError {
    ApiError::NotFound("no task 019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11 in queue emails".into())
}

fn server_side() -> [ApiError; 2] {
    [
        ApiError::Unavailable(String::new()),
        ApiError::Internal(String::new()),
    ]
}

/// Errors of calls that send a JSON body but name no task: submit, lease.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut errors = vec![
            malformed(),
            too_large(),
            ApiError::UnsupportedMediaType,
            invalid(),
        ];
        errors.extend(server_side());
        problem_responses(errors)
    }
}

/// Errors of reading a task.
pub struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut errors = vec![unknown_task(), invalid()];
        errors.extend(server_side());
        problem_responses(errors)
    }
}

/// Errors of a worker's call about a leased task: heartbeat, ack, fail.
pub struct WorkerErrors;

impl IntoResponses for WorkerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut errors = vec![
            malformed(),
            unknown_task(),
            ApiError::LeaseLost,
            too_large(),
            ApiError::UnsupportedMediaType,
            invalid(),
        ];
        errors.extend(server_side());
        problem_responses(errors)
    }
}

/// Errors of the readiness probe.
pub struct ReadinessErrors;

impl IntoResponses for ReadinessErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(vec![ApiError::Unavailable(String::new())])
    }
}
