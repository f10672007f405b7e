//! `Fields`: a JSON object body split into its members, each kept as the exact JSON text sent,
//! read one by one with its type and bounds checked, every problem collected. For bodies
//! whose shape is data rather than a type: the policy's, whose fields, kinds and bounds are
//! `model::Field`.

use std::collections::BTreeMap;

use super::probe::{Members, REPEATED};
use super::{PROBLEMS_MAX, malformed, note};
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
}

impl<'a> Fields<'a> {
    /// Splits a body into its fields: 400 when it is not JSON, 422 when it is not an object.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let members = serde_json::from_slice::<Members<'a>>(body).map_err(|e| {
            if e.is_data() {
                ApiError::field("body", "must be a JSON object")
            } else {
                malformed(&e)
            }
        })?;
        Ok(Self::from_members(members, String::new()))
    }

    fn from_members(members: Members<'a>, prefix: String) -> Self {
        let mut fields = Self {
            values: members.values,
            asked: Vec::new(),
            errors: Vec::new(),
            prefix,
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
