//! The field types of request bodies. Each one checks its own value when a body is read, with
//! the message a `422` shows, and documents itself in the OpenAPI schema, both from the same
//! bounds: the `model` constants given as its parameters (`Int<1, { MAX_TASKS_MAX as i64 }>`).
//! So a body is declared once, as a plain `Deserialize + ToSchema` struct of these types.
//!
//! Fields are `#[schema(inline)]` (a bound belongs to the field, not to a shared component);
//! `http/fold.rs` turns utoipa's wrappers of an inlined, optional or described field
//! back into one plain schema.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::model::{
    DELAY_MS_MAX, LEASE_ID_MAX, LEASE_MS_MAX, LEASE_MS_MIN, MAX_ATTEMPTS_MAX, PRIORITY_MAX,
    PRIORITY_MIN,
};

/// What a JSON value is, in words, for "must be …, not …".
fn kind_of(unexpected: de::Unexpected<'_>) -> &'static str {
    use de::Unexpected::*;
    match unexpected {
        Bool(_) => "a boolean",
        Unsigned(_) | Signed(_) | Float(_) => "a number",
        Str(_) | Char(_) | Bytes(_) => "a string",
        Unit | Option => "null",
        Seq => "an array",
        Map => "an object",
        _ => "another kind of value",
    }
}

/// A visitor's refusal of a value of the wrong kind, in our words.
pub(super) struct Expected(pub(super) &'static str);

impl Expected {
    pub(super) fn refuse<E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> E {
        match unexpected {
            // An optional field takes `null` as absent before its type sees it: a type that
            // sees `null` is a required field's.
            de::Unexpected::Unit | de::Unexpected::Option => E::custom("is required"),
            _ => E::custom(format!("must be {}, not {}", self.0, kind_of(unexpected))),
        }
    }
}

/// The visitor methods a field type refuses, each with its visitor's `refusal`: the scalars
/// listed, and objects (`visit_map`), which no field type here takes.
macro_rules! refuse_others {
    ($($method:ident($($v:ident: $arg:ty)?) => $unexpected:expr;)*) => {
        $(
            fn $method<E: de::Error>(self $(, $v: $arg)?) -> Result<Self::Value, E> {
                Err(self.refusal($unexpected))
            }
        )*
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.refusal(de::Unexpected::Map))
        }
    };
}
pub(super) use refuse_others;

/// `visit_seq` refused, for a field type that is not a list.
macro_rules! refuse_lists {
    () => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.refusal(de::Unexpected::Seq))
        }
    };
}

/// A whole number in `MIN..=MAX` (any JSON number without a fraction, so `5.0` is 5, as JSON
/// Schema's `integer` allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    fn problem() -> String {
        format!("must be a whole number from {MIN} to {MAX}")
    }

    /// The value, as `T` (which the bounds always fit).
    pub fn get<T: TryFrom<i64> + Default>(self) -> T {
        T::try_from(self.0).unwrap_or_default()
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: i64, const MAX: i64>;
        impl<const MIN: i64, const MAX: i64> V<MIN, MAX> {
            // Any other kind of value is out of range as much as a wrong number is.
            fn refusal<E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> E {
                match unexpected {
                    de::Unexpected::Unit => E::custom("is required"),
                    _ => E::custom(Int::<MIN, MAX>::problem()),
                }
            }
            fn checked<E: de::Error>(value: Option<i64>) -> Result<Int<MIN, MAX>, E> {
                value
                    .filter(|n| (MIN..=MAX).contains(n))
                    .map(Int)
                    .ok_or_else(|| E::custom(Int::<MIN, MAX>::problem()))
            }
        }
        impl<'de, const MIN: i64, const MAX: i64> Visitor<'de> for V<MIN, MAX> {
            type Value = Int<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::checked(Some(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::checked(i64::try_from(v).ok())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                let whole = v.fract() == 0.0 && v.abs() < 9.0e18;
                Self::checked(whole.then_some(v as i64))
            }
            refuse_others! {
                visit_bool(v: bool) => de::Unexpected::Bool(v);
                visit_str(v: &str) => de::Unexpected::Str(v);
                visit_unit() => de::Unexpected::Unit;
            }
            refuse_lists!();
        }
        d.deserialize_any(V::<MIN, MAX>)
    }
}

impl<const MIN: i64, const MAX: i64> PartialSchema for Int<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(MIN))
            .maximum(Some(MAX))
            .into()
    }
}

impl<const MIN: i64, const MAX: i64> ToSchema for Int<MIN, MAX> {}

/// The pattern of a text with no control characters.
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$";

/// A string of `MIN..=MAX` characters (counted as JSON Schema's `maxLength` counts), with no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MIN: usize, const MAX: usize>(pub String);

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Text<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = AnyText::deserialize(d)?.0;
        if !(MIN..=MAX).contains(&text.chars().count()) {
            return Err(de::Error::custom(format!(
                "must be {MIN} to {MAX} characters long"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(de::Error::custom("must not contain control characters"));
        }
        Ok(Self(text))
    }
}

impl<const MIN: usize, const MAX: usize> PartialSchema for Text<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .min_length(Some(MIN))
            .max_length(Some(MAX))
            .pattern(Some(NO_CONTROL))
            .into()
    }
}

impl<const MIN: usize, const MAX: usize> ToSchema for Text<MIN, MAX> {}

/// Any string, control characters and all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyText(pub String);

impl<'de> Deserialize<'de> for AnyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn refusal<E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> E {
                Expected("a string").refuse(unexpected)
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = AnyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyText, E> {
                Ok(AnyText(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<AnyText, E> {
                Ok(AnyText(v))
            }
            refuse_others! {
                visit_bool(v: bool) => de::Unexpected::Bool(v);
                visit_i64(v: i64) => de::Unexpected::Signed(v);
                visit_u64(v: u64) => de::Unexpected::Unsigned(v);
                visit_f64(v: f64) => de::Unexpected::Float(v);
                visit_unit() => de::Unexpected::Unit;
            }
            refuse_lists!();
        }
        d.deserialize_any(V)
    }
}

impl PartialSchema for AnyText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .into()
    }
}

impl ToSchema for AnyText {}

/// `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn refusal<E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> E {
                Expected("true or false").refuse(unexpected)
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            refuse_others! {
                visit_str(v: &str) => de::Unexpected::Str(v);
                visit_i64(v: i64) => de::Unexpected::Signed(v);
                visit_u64(v: u64) => de::Unexpected::Unsigned(v);
                visit_f64(v: f64) => de::Unexpected::Float(v);
                visit_unit() => de::Unexpected::Unit;
            }
            refuse_lists!();
        }
        d.deserialize_any(V)
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Boolean))
            .into()
    }
}

impl ToSchema for Flag {}

/// Any JSON value, kept as the exact text sent (a payload or a result). `null` is a value: a
/// `payload` of `null` is a null payload, and `Option<JsonText>` fields use `present` so that a
/// `result` of `null` is stored as `null` rather than taken as absent.
#[derive(Debug)]
pub struct JsonText(pub Box<RawValue>);

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(JsonText)
    }
}

impl PartialSchema for JsonText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .into()
    }
}

impl ToSchema for JsonText {}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<JsonText>`: present, `null`
/// included, is `Some`.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonText>, D::Error> {
    JsonText::deserialize(d).map(Some)
}

/// An RFC 3339 time between 1970 and 2286 (where epoch milliseconds reach 14 digits), as
/// milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub i64);

/// Latest accepted time (ms): 2286-11-20.
const TIME_MAX_MS: i64 = 9_999_999_999_999;

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = AnyText::deserialize(d)?.0;
        crate::model::parse_rfc3339_ms(&text)
            .filter(|ms| (0..=TIME_MAX_MS).contains(ms))
            .map(Time)
            .ok_or_else(|| de::Error::custom("must be an RFC 3339 time between 1970 and 2286"))
    }
}

impl PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .build();
        schema.example = Some(serde_json::json!("2026-11-25T18:00:00Z"));
        RefOr::T(Schema::Object(schema))
    }
}

impl ToSchema for Time {}

/// A task id (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub crate::model::TaskId);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = AnyText::deserialize(d)?.0;
        crate::model::TaskId::parse(&text)
            .map(Id)
            .map_err(|e| de::Error::custom(e.message))
    }
}

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .into()
    }
}

impl ToSchema for Id {}

/// A task group's name (`model::GROUP_NAME_PATTERN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group(pub crate::model::GroupName);

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = AnyText::deserialize(d)?.0;
        crate::model::GroupName::parse(&text)
            .map(Group)
            .map_err(|e| de::Error::custom(e.message))
    }
}

impl PartialSchema for Group {
    fn schema() -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(crate::model::GROUP_NAME_PATTERN))
            .build();
        schema.example = Some(serde_json::json!("tenant-42"));
        RefOr::T(Schema::Object(schema))
    }
}

impl ToSchema for Group {}

/// The fields several bodies share, each with its bounds from `model`.
pub type Priority = Int<{ PRIORITY_MIN as i64 }, { PRIORITY_MAX as i64 }>;
pub type DelayMs = Int<0, { DELAY_MS_MAX as i64 }>;
pub type StartWithinMs = Int<1, { DELAY_MS_MAX as i64 }>;
pub type MaxAttempts = Int<1, { MAX_ATTEMPTS_MAX as i64 }>;
pub type LeaseMs = Int<{ LEASE_MS_MIN as i64 }, { LEASE_MS_MAX as i64 }>;
pub type LeaseId = Text<1, { LEASE_ID_MAX }>;
