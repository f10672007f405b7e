//! `Fields`: a JSON object body split into its members, each kept as the exact JSON text sent,
//! read one by one with its type and bounds checked, every problem collected. For bodies
//! whose shape is data rather than a type: the policy's, whose fields, kinds and bounds are
//! `model::Field`.

use std::collections::BTreeMap;

use super::probe::{Members, REPEATED};
use super::{PROBLEMS_MAX, nesting_over, note, syntax_problem};
use serde_json::value::RawValue;

use crate::http::problem::ApiError;
use crate::model::FieldError;

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

impl<'a> Fields<'a> {
    /// Splits a body into its fields, with the default depth limit for payloads and results:
    /// 400 when it is not JSON, 422 when it is not an object.
    #[cfg(test)]
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        Self::parse_with_depth(body, crate::model::MAX_JSON_DEPTH_DEFAULT)
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
            fields.fail(&key, REPEATED);
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
        note(
            &mut self.errors,
            format!("{}{field}", self.prefix),
            message.into(),
        );
    }

    /// Every problem found, unknown fields included, or `Ok`.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .values
            .keys()
            .filter(|name| !self.asked.contains(&name.as_str()))
            .cloned()
            .collect();
        let mut known: Vec<&str> = Vec::new();
        for name in &self.asked {
            if !known.contains(name) {
                known.push(name);
            }
        }
        let known = known.join(", ");
        for name in unknown.into_iter().take(PROBLEMS_MAX) {
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
