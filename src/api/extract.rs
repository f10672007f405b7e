//! Request extractors and input checks. Every rejection here is an `ApiError`, so bad input of
//! any kind (path, content type, size, JSON syntax, JSON shape, bounds) comes out as a
//! problem+json naming what is wrong, before anything reaches the store.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::model::{FieldError, LEASE_MS_MAX, LEASE_MS_MIN, QueueName, TaskId};

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

/// A JSON request body. Unlike axum's `Json`, every failure is a problem+json: a missing or
/// wrong content type is 415, an oversized body 413, broken JSON 400, and JSON of the wrong
/// shape 422 naming the field (by its path, e.g. `backoff.jitter`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body exceeds the server's limit".into())
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })?;
        parse_json(&body).map(Self)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from a JSON array; every body here is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<Value>(body) {
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
            Err(e) => Err(ApiError::Malformed(format!(
                "the body is not valid JSON: {e}"
            ))),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = match err.path().to_string() {
            path if path == "." => "body".to_owned(),
            path => path,
        };
        let inner = err.into_inner();
        if inner.is_data() {
            ApiError::field(field, inner.to_string())
        } else {
            ApiError::Malformed(format!("the body is not valid JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// For `Option<Value>` fields that may be JSON `null`: present-but-null is `Some(Null)`, and
/// only a missing field is `None`.
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// For optional integer fields: any JSON number without a fractional part (JSON Schema's
/// `integer`, so `5.0` is 5), with `null` read as absent.
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    });
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number in range")))
}

/// Collects every field problem of one request, so the client hears about all of them at once.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// The value, or a "required" problem.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(field, "is required");
        }
        value
    }

    /// The value when it lies in `min..=max`; otherwise a problem, and `None`.
    pub fn range<T>(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) -> Option<T>
    where
        T: TryFrom<i64>,
    {
        let value = value?;
        match T::try_from(value) {
            Ok(v) if (min..=max).contains(&value) => Some(v),
            _ => {
                self.fail(field, format!("must be between {min} and {max}"));
                None
            }
        }
    }

    /// A lease length, when given, within the bounds every lease length obeys.
    pub fn lease_ms(&mut self, field: &str, value: Option<i64>) -> Option<u64> {
        self.range(field, value, LEASE_MS_MIN as i64, LEASE_MS_MAX as i64)
    }

    /// A text's length in characters, counted as JSON Schema's `minLength`/`maxLength` count.
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        if !(min..=max).contains(&value.chars().count()) {
            self.fail(field, format!("must be {min}-{max} characters"));
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` when no check failed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// The compact JSON text of a payload or result, refused with 413 above `max_bytes`.
pub fn compact_json(field: &str, value: &Value, max_bytes: usize) -> Result<String, ApiError> {
    let text = value.to_string();
    if text.len() > max_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "{field} is {} bytes of compact JSON; the limit is {max_bytes}",
            text.len()
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[allow(dead_code)]
        count: Option<i64>,
    }

    #[test]
    fn json_problems_name_the_field_or_say_malformed() {
        let wrong_type = parse_json::<Sample>(br#"{"count": "x"}"#).unwrap_err();
        assert!(matches!(&wrong_type, ApiError::Validation(e) if e[0].field == "count"));
        let syntax = parse_json::<Sample>(br#"{"count": "#).unwrap_err();
        assert!(matches!(syntax, ApiError::Malformed(_)));
        let trailing = parse_json::<Sample>(br#"{} x"#).unwrap_err();
        assert!(matches!(trailing, ApiError::Malformed(_)));
        let array = parse_json::<Sample>(b" [null]").unwrap_err();
        assert!(matches!(&array, ApiError::Validation(e) if e[0].field == "body"));
        let unknown = parse_json::<Sample>(br#"{"cuont": 1}"#).unwrap_err();
        assert!(matches!(&unknown, ApiError::Validation(e) if e[0].message.contains("cuont")));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("header"));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
