//! JSON request bodies, read field by field.
//!
//! A body is parsed once into its top-level fields, each kept as the exact JSON text sent
//! (`RawValue`), so a payload or result goes to Redis byte for byte as received: key order,
//! big numbers and duplicate keys inside it survive. Each request type then reads its fields
//! through `Fields`, which checks types and bounds and collects every problem, unknown fields
//! included, so one `422` names all of them at once, in words written for people.
//!
//! Every rejection is an `ApiError`: a missing or wrong content type is 415, an oversized body
//! 413, broken JSON 400, a body that is not an object or a bad field 422.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::model::FieldError;

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

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
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
        let mut fields = Fields::parse(&bytes)?;
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

/// The top-level fields of a JSON object body (or of one object inside it), and the problems
/// found reading them.
pub struct Fields<'a> {
    values: BTreeMap<String, &'a RawValue>,
    asked: Vec<&'static str>,
    errors: Vec<FieldError>,
    /// For an object inside the body: its path and a dot (`backoff.`), put before field names.
    prefix: String,
}

impl<'a> Fields<'a> {
    /// Splits a body into its fields: 400 when it is not JSON, 422 when it is not an object.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let values = serde_json::from_slice::<BTreeMap<String, &RawValue>>(body).map_err(|e| {
            if e.is_data() {
                ApiError::field("body", "must be a JSON object")
            } else {
                ApiError::Malformed(format!(
                    "the body is not valid JSON ({} at line {}, column {})",
                    syntax_problem(&e),
                    e.line(),
                    e.column()
                ))
            }
        })?;
        Ok(Self {
            values,
            asked: Vec::new(),
            errors: Vec::new(),
            prefix: String::new(),
        })
    }

    /// Whether the body has this field at all (`null` included).
    pub fn has(&mut self, name: &'static str) -> bool {
        self.asked.push(name);
        self.values.contains_key(name)
    }

    /// The fields of an object field, to read with their own checks; `None` when the field is
    /// absent or `null` (or not an object, which is a problem). Give the reader back to
    /// `nested_done` so its problems are reported with the rest.
    pub fn nested(&mut self, name: &'static str) -> Option<Fields<'a>> {
        let raw = self.present(name)?;
        let values = serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()).ok();
        match values {
            Some(values) => Some(Fields {
                values,
                asked: Vec::new(),
                errors: Vec::new(),
                prefix: format!("{}{name}.", self.prefix),
            }),
            None => {
                self.fail(name, format!("must be an object, not {}", kind(raw)));
                None
            }
        }
    }

    /// Takes back a nested reader: its problems, and its unknown fields, become this body's.
    pub fn nested_done(&mut self, nested: Fields<'a>) {
        if let Err(ApiError::Validation(errors)) = nested.finish() {
            self.errors.extend(errors);
        }
    }

    /// The field's JSON text, `null` included; `None` when absent.
    pub fn raw(&mut self, name: &'static str) -> Option<&'a RawValue> {
        self.asked.push(name);
        self.values.get(name).copied()
    }

    /// The field's JSON text, absent when missing or `null`.
    pub fn present(&mut self, name: &'static str) -> Option<&'a RawValue> {
        self.raw(name).filter(|raw| raw.get() != "null")
    }

    /// An integer in `min..=max` (any JSON number without a fraction, so `5.0` is 5, as JSON
    /// Schema's `integer` allows), converted to `T`.
    pub fn int<T: TryFrom<i64>>(&mut self, name: &'static str, min: i64, max: i64) -> Option<T> {
        let raw = self.present(name)?;
        let whole = serde_json::from_str::<serde_json::Number>(raw.get())
            .ok()
            .and_then(|n| {
                n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                        .map(|f| f as i64)
                })
            });
        match whole.filter(|n| (min..=max).contains(n)).map(T::try_from) {
            Some(Ok(value)) => Some(value),
            _ => {
                self.fail(name, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// A string of `min..=max` characters (counted as JSON Schema's `maxLength` counts), with
    /// no control characters.
    pub fn text(&mut self, name: &'static str, min: usize, max: usize) -> Option<String> {
        let raw = self.present(name)?;
        let Ok(text) = serde_json::from_str::<String>(raw.get()) else {
            self.fail(name, format!("must be a string, not {}", kind(raw)));
            return None;
        };
        if !(min..=max).contains(&text.chars().count()) {
            self.fail(name, format!("must be {min} to {max} characters long"));
            return None;
        }
        if text.chars().any(char::is_control) {
            self.fail(name, "must not contain control characters");
            return None;
        }
        Some(text)
    }

    /// A string of any content (control characters and all).
    pub fn any_text(&mut self, name: &'static str) -> Option<String> {
        let raw = self.present(name)?;
        match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => Some(text),
            Err(_) => {
                self.fail(name, format!("must be a string, not {}", kind(raw)));
                None
            }
        }
    }

    /// A list of `min..=max` strings.
    pub fn string_list(
        &mut self,
        name: &'static str,
        min: usize,
        max: usize,
    ) -> Option<Vec<String>> {
        let raw = self.present(name)?;
        match serde_json::from_str::<Vec<String>>(raw.get()) {
            Ok(list) if (min..=max).contains(&list.len()) => Some(list),
            Ok(_) => {
                self.fail(name, format!("must list {min} to {max} names"));
                None
            }
            Err(_) => {
                self.fail(
                    name,
                    format!("must be a list of strings, not {}", kind(raw)),
                );
                None
            }
        }
    }

    /// Any JSON number in `min..=max`.
    pub fn number(&mut self, name: &'static str, min: f64, max: f64) -> Option<f64> {
        let raw = self.present(name)?;
        match serde_json::from_str::<f64>(raw.get()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.fail(name, format!("must be a number from {min} to {max}"));
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &'static str) -> Option<bool> {
        let raw = self.present(name)?;
        match raw.get() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.fail(name, format!("must be true or false, not {}", kind(raw)));
                None
            }
        }
    }

    /// `value`, or an "is required" problem unless the field already has one.
    pub fn required<T>(&mut self, name: &'static str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.errors.iter().any(|e| e.field == name) {
            self.fail(name, "is required");
        }
        value
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), message));
    }

    /// Every problem found, unknown fields included, or `Ok`.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .values
            .keys()
            .filter(|name| !self.asked.contains(&name.as_str()))
            .cloned()
            .collect();
        for name in unknown {
            let known = self.asked.join(", ");
            self.fail(
                &name,
                format!("is not a field of this request (known: {known})"),
            );
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }

    /// The names this request type reads, in order (for tests of the schema).
    #[cfg(test)]
    pub fn asked(&self) -> &[&'static str] {
        &self.asked
    }
}

/// What kind of JSON value `raw` is, for messages.
fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn syntax_problem(e: &serde_json::Error) -> &'static str {
    if e.is_eof() {
        "it ends too early"
    } else {
        "unexpected character"
    }
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
mod tests {
    use super::*;

    fn problems(result: Result<(), ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation problem, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_in_a_body_is_named_at_once() {
        let body = br#"{"payload":1,"priority":5000,"lease_mss":3,"delay_ms":1.5,"name":7}"#;
        let mut fields = Fields::parse(body).expect("object");
        assert!(fields.raw("payload").is_some());
        assert_eq!(fields.int::<i32>("priority", -1000, 1000), None);
        assert_eq!(fields.int::<u64>("delay_ms", 0, 10), None);
        assert_eq!(fields.text("name", 1, 5), None);
        let missing = fields.raw("lease_id");
        fields.required("lease_id", missing);
        assert_eq!(
            problems(fields.finish()),
            ["priority", "delay_ms", "name", "lease_id", "lease_mss"]
        );
    }

    #[test]
    fn json_problems_are_malformed_or_not_an_object() {
        for bad in [&b"{\"a\": "[..], b"{} x", b""] {
            assert!(matches!(Fields::parse(bad), Err(ApiError::Malformed(_))));
        }
        for not_object in [&b"[1]"[..], b"3", b"null"] {
            let Err(ApiError::Validation(errors)) = Fields::parse(not_object) else {
                panic!("{not_object:?} accepted");
            };
            assert_eq!(errors[0].field, "body");
        }
    }

    #[test]
    fn raw_values_keep_their_exact_text() {
        let body = br#"{"payload": {"z":1, "a":12345678901234567890123,"dup":1,"dup":2}}"#;
        let mut fields = Fields::parse(body).expect("object");
        let raw = fields.raw("payload").expect("payload");
        assert_eq!(
            raw.get(),
            r#"{"z":1, "a":12345678901234567890123,"dup":1,"dup":2}"#
        );
    }

    #[test]
    fn whole_floats_are_integers_and_null_is_absent() {
        let mut fields = Fields::parse(br#"{"a": 2.0, "b": null, "c": true}"#).expect("object");
        assert_eq!(fields.int::<u32>("a", 0, 5), Some(2));
        assert_eq!(fields.int::<u32>("b", 0, 5), None);
        assert_eq!(fields.boolean("c"), Some(true));
        assert!(fields.finish().is_ok());
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
