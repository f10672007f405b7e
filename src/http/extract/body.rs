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

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;
use crate::model::FieldError;

/// The default of `--max-json-depth`: how deeply a payload or result may nest arrays and
/// objects. A lease answer puts a payload 4 levels down (`{"leases": [{"task": {"payload"`),
/// so a payload at this depth is at most 68 deep where a client reads it: within serde_json's
/// limit of 128 (the strictest of the common parsers; Python's is about 1000, jq 1.6's 256,
/// Jackson's 1000, Go's 10000) with room for a client's own envelope.
pub const MAX_JSON_DEPTH_DEFAULT: usize = 64;

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

/// The top-level fields of a JSON object body (or of one object inside it), and the problems
/// found reading them.
pub struct Fields<'a> {
    values: BTreeMap<String, &'a RawValue>,
    asked: Vec<&'static str>,
    errors: Vec<FieldError>,
    /// For an object inside the body: its path and a dot (`backoff.`), put before field names.
    prefix: String,
    /// Deepest nesting of arrays and objects a payload or result may have.
    max_depth: usize,
}

/// A JSON object's members, each kept as its JSON text, and the keys given more than once.
struct Members<'a> {
    values: BTreeMap<String, &'a RawValue>,
    repeated: Vec<String>,
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Members {
                    values: BTreeMap::new(),
                    repeated: Vec::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<&'de RawValue>()?;
                    match members.values.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                        Entry::Occupied(slot) => {
                            if !members.repeated.contains(slot.key()) {
                                members.repeated.push(slot.key().clone());
                            }
                        }
                    }
                }
                Ok(members)
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

impl<'a> Fields<'a> {
    /// Splits a body into its fields, with the default depth limit for payloads and results:
    /// 400 when it is not JSON, 422 when it is not an object.
    #[cfg(test)]
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        Self::parse_with_depth(body, MAX_JSON_DEPTH_DEFAULT)
    }

    /// Splits a body into its fields; payloads and results in it may nest `max_depth` deep.
    pub fn parse_with_depth(body: &'a [u8], max_depth: usize) -> Result<Self, ApiError> {
        let members = serde_json::from_slice::<Members<'a>>(body).map_err(|e| {
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
        Ok(Self::from_members(members, String::new(), max_depth))
    }

    /// An item of a list in this body (one task of a batch), read on its own, with the same
    /// limits as this body.
    pub fn item(&self, item: &'a RawValue) -> Result<Fields<'a>, ApiError> {
        Self::parse_with_depth(item.get().as_bytes(), self.max_depth)
    }

    fn from_members(members: Members<'a>, prefix: String, max_depth: usize) -> Self {
        let mut fields = Self {
            values: members.values,
            asked: Vec::new(),
            errors: Vec::new(),
            prefix,
            max_depth,
        };
        for key in members.repeated {
            fields.fail(
                &key,
                "is given more than once; send each field once (which of the values would \
                 count is not defined in JSON)",
            );
        }
        fields
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
        match serde_json::from_str::<Members<'a>>(raw.get()) {
            Ok(members) => Some(Self::from_members(
                members,
                format!("{}{name}.", self.prefix),
                self.max_depth,
            )),
            Err(_) => {
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

    /// A payload or result: any JSON value, as the exact JSON text sent (`null` included;
    /// `None` when absent), nested at most `max_depth` deep. Deeper is a problem naming the
    /// field (and `None`): many clients' parsers give up on deep JSON, or crash.
    pub fn raw(&mut self, name: &'static str) -> Option<&'a RawValue> {
        let raw = self.get(name)?;
        let limit = self.max_depth;
        match nesting_over(raw.get().as_bytes(), limit) {
            None => Some(raw),
            Some(depth) => {
                self.fail(
                    name,
                    format!(
                        "is nested {depth} levels deep (arrays and objects within each other); \
                         the limit is {limit}"
                    ),
                );
                None
            }
        }
    }

    /// The field's JSON text, `null` included; `None` when absent.
    fn get(&mut self, name: &'static str) -> Option<&'a RawValue> {
        self.asked.push(name);
        self.values.get(name).copied()
    }

    /// The field's JSON text, absent when missing or `null`.
    pub fn present(&mut self, name: &'static str) -> Option<&'a RawValue> {
        self.get(name).filter(|raw| raw.get() != "null")
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
        if value.is_none() {
            self.fail(name, "is required");
        }
        value
    }

    /// Records a problem with `field`, unless it already has one: one clear message per field
    /// (a value out of range is not also "required", a repeated key not also out of range).
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        let field = format!("{}{field}", self.prefix);
        if !self.errors.iter().any(|e| e.field == field) {
            self.errors.push(FieldError::new(field, message));
        }
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

/// How deeply `json` (valid JSON text) nests arrays and objects, when that is more than
/// `limit`; `None` when it is within it. One pass over the bytes and no recursion, so any depth
/// costs the same as its length; brackets inside strings do not count.
fn nesting_over(json: &[u8], limit: usize) -> Option<usize> {
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
    fn a_repeated_key_is_a_problem_naming_it_but_a_payload_keeps_its_own() {
        let body =
            br#"{"payload": {"a":1,"a":2}, "lease_ms": 1, "lease_ms": 2, "b": {"x":1,"x":1}}"#;
        let mut fields = Fields::parse(body).expect("object");
        let payload = fields.raw("payload").expect("payload");
        assert_eq!(payload.get(), r#"{"a":1,"a":2}"#);
        assert_eq!(fields.int::<u64>("lease_ms", 0, 0), None);
        let nested = fields.nested("b").expect("object");
        fields.nested_done(nested);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("the repeated keys were accepted");
        };
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(named.len(), 2, "one message per field: {named:?}");
        assert_eq!(named[0].0, "lease_ms");
        assert!(named[0].1.contains("more than once"), "{named:?}");
        assert_eq!(named[1].0, "b.x");
    }

    #[test]
    fn a_key_repeated_through_an_escape_is_still_repeated() {
        let body = br#"{"payload": 1, "pay\u006coad": 2}"#;
        let fields = Fields::parse(body).expect("object");
        assert_eq!(problems(fields.finish()), ["payload"]);
    }

    #[test]
    fn nesting_is_measured_without_counting_brackets_in_strings() {
        assert_eq!(nesting_over(b"1", 0), None);
        assert_eq!(nesting_over(b"[]", 0), Some(1));
        assert_eq!(nesting_over(br#"{"a":[{"b":[]}]}"#, 3), Some(4));
        assert_eq!(nesting_over(br#"{"a":[{"b":[]}]}"#, 4), None);
        assert_eq!(nesting_over(br#"["[[[[", "\"[[[", "\\", []]"#, 1), Some(2));
        assert_eq!(nesting_over(br#"["[[[[", "\"[[[", "\\"]"#, 1), None);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(nesting_over(deep.as_bytes(), 64), Some(100_000));
    }

    #[test]
    fn a_payload_deeper_than_the_limit_is_a_problem_naming_it() {
        let at_limit = format!(r#"{{"payload": {}1{}}}"#, "[".repeat(3), "]".repeat(3));
        let mut fields = Fields::parse_with_depth(at_limit.as_bytes(), 3).expect("object");
        assert!(fields.raw("payload").is_some());
        assert!(fields.finish().is_ok());
        let over = format!(r#"{{"result": {}1{}}}"#, "[".repeat(4), "]".repeat(4));
        let mut fields = Fields::parse_with_depth(over.as_bytes(), 3).expect("object");
        assert!(fields.raw("result").is_none());
        let missing = None::<()>;
        fields.required("result", missing);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("accepted");
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "result");
        assert!(errors[0].message.contains("4 levels"), "{errors:?}");
    }

    /// What a lease answer puts around a payload at the default limit stays within serde_json's
    /// own recursion limit, so a Rust client (and the stricter parsers) reads it.
    #[test]
    fn a_payload_at_the_default_limit_is_readable_inside_a_lease_answer() {
        let depth = MAX_JSON_DEPTH_DEFAULT;
        let payload = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let answer = format!(r#"{{"leases":[{{"lease_id":"x","task":{{"payload":{payload}}}}}]}}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok());
    }

    /// The documents state the default depth limit in words (a literal), so it must agree.
    #[test]
    fn the_documented_depth_limit_is_the_default() {
        let document = crate::openapi_json();
        let stated = format!("{MAX_JSON_DEPTH_DEFAULT} levels");
        // The overview, both payloads, both results.
        assert_eq!(document.matches(&stated).count(), 5, "{stated}");
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
