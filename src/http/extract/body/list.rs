//! The list field type, `List<T, MIN, MAX>`: each item read by its own field type (and named
//! by its place when wrong), the count within bounds; and `Queue`, the type of a queue's name
//! in a list.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use super::field::{AnyText, Expected, refuse_others};

/// A list of `MIN..=MAX` values, each checked by its own type `T` and, when wrong, named by its
/// place (`queues[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T, const MIN: usize, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MIN: usize, const MAX: usize> Deserialize<'de>
    for List<T, MIN, MAX>
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MIN: usize, const MAX: usize>(PhantomData<T>);
        impl<T, const MIN: usize, const MAX: usize> V<T, MIN, MAX> {
            fn refusal<E: de::Error>(&self, unexpected: de::Unexpected<'_>) -> E {
                Expected("a list").refuse(unexpected)
            }
            fn count<E: de::Error>() -> E {
                E::custom(format!("must list {MIN} to {MAX} items"))
            }
        }
        impl<'de, T: Deserialize<'de>, const MIN: usize, const MAX: usize> Visitor<'de> for V<T, MIN, MAX> {
            type Value = List<T, MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    items.push(item);
                    if items.len() > MAX {
                        return Err(Self::count());
                    }
                }
                if items.len() < MIN {
                    return Err(Self::count());
                }
                Ok(List(items))
            }
            refuse_others! {
                visit_bool(v: bool) => de::Unexpected::Bool(v);
                visit_str(v: &str) => de::Unexpected::Str(v);
                visit_i64(v: i64) => de::Unexpected::Signed(v);
                visit_u64(v: u64) => de::Unexpected::Unsigned(v);
                visit_f64(v: f64) => de::Unexpected::Float(v);
                visit_unit() => de::Unexpected::Unit;
            }
        }
        d.deserialize_any(V::<T, MIN, MAX>(PhantomData))
    }
}

// A generic type gets its schema through utoipa's (hidden) `ComposeSchema`, and
// `PartialSchema` from it.
impl<T: PartialSchema, const MIN: usize, const MAX: usize> utoipa::__dev::ComposeSchema
    for List<T, MIN, MAX>
{
    fn compose(_generics: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(T::schema())
            .min_items(Some(MIN))
            .max_items(Some(MAX))
            .into()
    }
}

impl<T: PartialSchema, const MIN: usize, const MAX: usize> ToSchema for List<T, MIN, MAX> {}

/// A queue's name (`^[A-Za-z0-9._-]{1,128}$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue(pub crate::model::QueueName);

impl<'de> Deserialize<'de> for Queue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = AnyText::deserialize(d)?.0;
        crate::model::QueueName::parse(&text)
            .map(Queue)
            .map_err(|e| de::Error::custom(e.message))
    }
}

impl PartialSchema for Queue {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some("^[A-Za-z0-9._-]{1,128}$"))
            .into()
    }
}

impl ToSchema for Queue {}
