//! JSON request bodies. `Body<T>` reads a body into `T`: a plain `Deserialize + ToSchema`
//! struct (or a type with its own `ReadBody`) whose fields are the types of `field.rs`, each
//! checking its own value with the bounds its schema documents. One declaration per body.
//!
//! A body that reads cleanly costs one `serde_json` pass and one scan of its bytes for depth
//! (payloads and results are kept as the exact JSON text sent, so key order, big numbers and
//! duplicate keys inside them survive).
//! Only a body with a problem is read again, member by member (`probe.rs`), so that one `422`
//! names every bad field at once, in words written for people: each field alone (a body of
//! just that member, so one field's problem hides no other's), then what is missing, then what
//! is unknown. A key given twice, at any level the server reads, is a problem naming it (JSON
//! leaves duplicates undefined; "the last one wins" would silently drop what a client sent).
//! Rules between fields, and those that depend on the server's settings (how deep a payload
//! may nest), are the body's `Check`. A body whose fields are data rather than a type (the
//! policy's: `model::Field`) is read by `Fields` (`fields.rs`) through its own `ReadBody`.
//!
//! Every rejection is an `ApiError`: a missing or wrong content type is 415, an oversized body
//! 413, broken JSON 400, a body that is not an object or a bad field 422.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::value::RawValue;

use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;
use crate::model::FieldError;

pub mod field;
mod fields;
pub mod list;
mod probe;

pub use fields::Fields;

/// A body, read and checked.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: ReadBody,
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
        T::read_body(&bytes, &limits).map(Body)
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

/// How a body type is read: by default through serde and its schema (`read`).
pub trait ReadBody: Sized {
    /// Reads `bytes` (a body, or one item of a batch).
    fn read_body(bytes: &[u8], limits: &BodyLimits) -> Result<Self, ApiError>;
}

impl<T: DeserializeOwned + utoipa::PartialSchema + Check> ReadBody for T {
    fn read_body(bytes: &[u8], limits: &BodyLimits) -> Result<Self, ApiError> {
        read(bytes, limits)
    }
}

/// The rules of a body that no one field's type can check: between fields, or against the
/// server's settings. Each problem is recorded with its field.
pub trait Check {
    /// The members that hold the client's own JSON (a payload, a result): each may nest at most
    /// the server's `max_json_depth`. Checked on both paths, so a too-deep payload is named
    /// along with every other problem of its body.
    const DEEP: &'static [&'static str] = &[];

    /// Rules between fields; run once every field has read.
    fn check(&self, _limits: &BodyLimits, _problems: &mut Problems) {}
}

/// The problems found in one body (or one item of a batch).
#[derive(Debug, Default)]
pub struct Problems {
    errors: Vec<FieldError>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        note(&mut self.errors, field.to_owned(), message.into());
    }

    /// Whether no more problems will be recorded (`PROBLEMS_MAX`).
    pub fn is_full(&self) -> bool {
        self.errors.len() >= PROBLEMS_MAX
    }

    /// A payload or result nested deeper than `limits` allow is a problem naming it: many
    /// clients' parsers give up on deep JSON, or crash.
    pub fn depth(&mut self, field: &str, raw: &RawValue, limits: &BodyLimits) {
        if let Some(depth) = nesting_over(raw.get().as_bytes(), limits.max_json_depth) {
            self.fail(
                field,
                format!(
                    "is nested {depth} levels deep (arrays and objects within each other); the \
                     limit is {}",
                    limits.max_json_depth
                ),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Most problems one `422` names. A body of thousands of bad keys gets the first of them, not
/// an answer of megabytes (nor the quadratic work of keeping one message per field).
pub(super) const PROBLEMS_MAX: usize = 100;

/// Records a problem with `field` unless it already has one (the first found is the one
/// reported) or `PROBLEMS_MAX` are recorded.
pub(super) fn note(errors: &mut Vec<FieldError>, field: String, message: String) {
    if errors.len() < PROBLEMS_MAX && !errors.iter().any(|e| e.field == field) {
        errors.push(FieldError::new(field, message));
    }
}

/// Reads `bytes` as `T`; on any problem, finds every one of them (`probe.rs`).
pub fn read<T>(bytes: &[u8], limits: &BodyLimits) -> Result<T, ApiError>
where
    T: DeserializeOwned + utoipa::PartialSchema + Check,
{
    // A derived struct also reads a JSON array (its fields in order); a body is an object.
    let opens = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if opens != Some(&b'{') {
        return match serde_json::from_slice::<IgnoredAny>(bytes) {
            Err(e) => Err(malformed(&e)),
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
        };
    }
    match serde_json::from_slice::<T>(bytes) {
        Ok(body) => {
            let mut problems = Problems::new();
            // One scan of the whole body; only a body nested deeper than its members may be
            // (its own object is one level) has its members looked at.
            let deeper = nesting_over(bytes, limits.max_json_depth + 1).is_some();
            if deeper && !T::DEEP.is_empty() {
                if let Ok(members) = serde_json::from_slice::<probe::Members<'_>>(bytes) {
                    for name in T::DEEP {
                        if let Some(raw) = members.values.get(*name) {
                            problems.depth(name, raw, limits);
                        }
                    }
                }
            }
            body.check(limits, &mut problems);
            problems.finish().map(|()| body)
        }
        Err(_) => {
            // serde stops at the first problem, which may come before broken JSON further on:
            // broken JSON is a 400 whatever else is wrong. Skimmed as raw text, a number out of
            // any range (`1e400`) is still JSON: that is the field's problem, a 422.
            if let Err(e) = serde_json::from_slice::<&RawValue>(bytes) {
                return Err(malformed(&e));
            }
            let mut problems = Problems::new();
            probe::find_problems::<T>(bytes, T::DEEP, limits, &mut problems);
            if problems.is_empty() {
                // Each part reads on its own but not together: say so rather than accept it.
                problems.fail("body", "does not fit this request");
            }
            problems.finish().map(|()| unreachable_body())
        }
    }
}

/// `problems.finish()` is an error whenever a problem was recorded, which it always is there.
fn unreachable_body<T>() -> T {
    unreachable!("a body with problems is never read")
}

pub(super) fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::Malformed(format!(
        "the body is not valid JSON ({} at line {}, column {})",
        syntax_problem(e),
        e.line(),
        e.column()
    ))
}

/// What went wrong in broken JSON, in words.
fn syntax_problem(e: &serde_json::Error) -> &'static str {
    if e.is_eof() {
        "it ends too early"
    } else {
        "unexpected character"
    }
}

/// How deeply `json` (valid JSON text) nests arrays and objects, when that is more than
/// `limit`; `None` when it is within it. One pass over the bytes and no recursion, so any depth
/// costs the same as its length; brackets inside strings do not count.
pub(super) fn nesting_over(json: &[u8], limit: usize) -> Option<usize> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = json.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                // Skip the string: to its closing quote, stepping over escapes.
                while let Some(&inside) = bytes.next() {
                    match inside {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (deepest > limit).then_some(deepest)
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
