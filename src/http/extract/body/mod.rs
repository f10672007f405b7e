//! JSON request bodies, read field by field.
//!
//! A body is parsed once into its top-level fields, each kept as the exact JSON text sent
//! (`RawValue`), so a payload or result goes to Redis byte for byte as received: key order,
//! big numbers and duplicate keys inside it survive. Each request type then reads its fields
//! through `Fields`, which checks types and bounds and collects every problem, unknown fields
//! included, so one `422` names all of them at once, in words written for people.
//!
//! Two rules hold for every body, at every level the server reads (the body, an object inside
//! it such as `backoff`, each item of a batch): a key given twice is a problem naming it (JSON
//! leaves duplicates undefined, and "the last one wins" would silently drop what a client
//! sent); and a payload or result (`Fields::raw`) nested deeper than the server's
//! `--max-json-depth` is a problem naming it, checked by an iterative scan of its text, so
//! neither a deep body nor the check can exhaust a stack. What is inside a payload or result
//! is the user's own JSON text and is not looked at otherwise (duplicate keys in it are kept).
//!
//! Every rejection is an `ApiError`: a missing or wrong content type is 415, an oversized body
//! 413, broken JSON 400, a body that is not an object or a bad field 422.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::value::RawValue;

use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;

mod fields;

pub use fields::Fields;

/// A request body type: its OpenAPI schema (the type itself) and how to read it.
pub trait RequestBody {
    /// The checked values the handler works with.
    type Checked;
    /// Reads and checks every field, recording problems in `fields`. What it returns is only
    /// used when no problem was recorded.
    fn read(fields: &mut Fields<'_>) -> Self::Checked;
}

/// A JSON object body, checked by `T::read`.
pub struct Body<T: RequestBody>(pub T::Checked);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: RequestBody,
    BodyLimits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limits = BodyLimits::from_ref(state);
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body exceeds the server's limit".into())
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })?;
        let mut fields = Fields::parse_with_depth(&bytes, limits.max_json_depth)?;
        let checked = T::read(&mut fields);
        fields.finish()?;
        Ok(Self(checked))
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

/// Refuses a payload or result whose JSON text is over `max_bytes` with 413.
pub fn check_size(field: &str, raw: &RawValue, max_bytes: u64) -> Result<(), ApiError> {
    let size = raw.get().len() as u64;
    if size > max_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "{field} is {size} bytes of JSON; the limit is {max_bytes}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
