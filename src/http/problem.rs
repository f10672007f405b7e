//! API errors as RFC 9457 `application/problem+json`. This is the one place where an error
//! becomes a status code. 5xx causes are kept out of response bodies: a `500`'s cause rides on
//! the response for the request log, and Redis outages are logged by the store's outage log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::FieldError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying after a `503 unavailable`.
const UNAVAILABLE_RETRY_AFTER_S: &str = "1";

/// An RFC 9457 problem document. `type` is one of the stable values listed below.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "validation", "title": "Invalid request", "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "max_tasks", "message": "must be a whole number from 1 to 100"}]
}))]
pub struct Problem {
    /// Stable problem type: `validation`, `malformed-request`, `unsupported-media-type`,
    /// `payload-too-large`, `unauthorized`, `forbidden`, `not-found`, `method-not-allowed`,
    /// `conflict`, `lease-lost`, `precondition-failed`, `request-timeout`, `headers-too-large`,
    /// `unavailable` or `internal`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// For `validation`: each bad field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Everything a request can fail with. Each variant is one problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("lease lost")]
    LeaseLost,
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("request timed out")]
    RequestTimeout,
    #[error("request headers too large: {0}")]
    HeadersTooLarge(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A replicated write reached the primary but not enough replicas in time.
    #[error("not replicated: {0}")]
    NotReplicated(String),
    /// The server is at its concurrency limit and refuses more work for now.
    #[error("overloaded: {0}")]
    Overloaded(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A `validation` problem about one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::LeaseLost => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unavailable(_) | Self::Overloaded(_) | Self::NotReplicated(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document for this error. 5xx details are generic on purpose.
    pub fn problem(&self) -> Problem {
        let (kind, title, detail, errors) = match self {
            Self::Validation(errors) => (
                "validation",
                "Invalid request",
                match errors.len() {
                    1 => "1 field is invalid".to_owned(),
                    n => format!("{n} fields are invalid"),
                },
                errors.clone(),
            ),
            Self::Malformed(why) => (
                "malformed-request",
                "Malformed request",
                why.clone(),
                vec![],
            ),
            Self::UnsupportedMediaType => (
                "unsupported-media-type",
                "Unsupported media type",
                "the request body must be JSON, sent with Content-Type: application/json".into(),
                vec![],
            ),
            Self::PayloadTooLarge(why) => (
                "payload-too-large",
                "Payload too large",
                why.clone(),
                vec![],
            ),
            Self::Unauthorized(why) => ("unauthorized", "Unauthorized", why.clone(), vec![]),
            Self::Forbidden(why) => ("forbidden", "Forbidden", why.clone(), vec![]),
            Self::NotFound(what) => ("not-found", "Not found", what.clone(), vec![]),
            Self::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                "this path does not accept that method".into(),
                vec![],
            ),
            Self::Conflict(why) => ("conflict", "Conflict", why.clone(), vec![]),
            Self::LeaseLost => (
                "lease-lost",
                "Lease lost",
                "this lease is no longer the task's current lease: it expired, or the task was \
                 leased again, cancelled or finished; your work on it was not recorded"
                    .into(),
                vec![],
            ),
            Self::PreconditionFailed(why) => (
                "precondition-failed",
                "Precondition failed",
                why.clone(),
                vec![],
            ),
            Self::RequestTimeout => (
                "request-timeout",
                "Request timeout",
                "the request took too long and was abandoned".into(),
                vec![],
            ),
            Self::HeadersTooLarge(why) => (
                "headers-too-large",
                "Request headers too large",
                why.clone(),
                vec![],
            ),
            Self::Overloaded(why) | Self::NotReplicated(why) => {
                ("unavailable", "Service unavailable", why.clone(), vec![])
            }
            Self::Unavailable(_) => (
                "unavailable",
                "Service unavailable",
                "the task store is unavailable; retry after the Retry-After delay".into(),
                vec![],
            ),
            Self::Internal(_) => (
                "internal",
                "Internal error",
                "an internal error occurred; it has been logged".into(),
                vec![],
            ),
        };
        Problem {
            kind,
            title,
            status: self.status().as_u16(),
            detail,
            errors,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(why) => Self::Unavailable(why.to_string()),
            StoreError::Overloaded(why) => Self::Overloaded(why),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The cause of a `500`, carried on the response for the request log (`middleware::observe`),
/// never in the body.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        if let Self::Internal(cause) = &self {
            response
                .extensions_mut()
                .insert(InternalCause(cause.clone()));
        }
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            self,
            Self::Unavailable(_) | Self::Overloaded(_) | Self::NotReplicated(_)
        ) {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(UNAVAILABLE_RETRY_AFTER_S),
            );
        }
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"taskgate\""),
            );
        }
        response
    }
}
