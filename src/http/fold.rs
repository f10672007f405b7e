//! Folds the wrappers utoipa puts around a request body's field types back into one plain
//! schema per field, as client generators read best. A field type (`extract::body::field`)
//! documents itself; utoipa then wraps it: `allOf: [schema, {description}]` for a field with a
//! doc comment, and `oneOf: [schema, {type: null}]` for an optional one. Folded, a field is its
//! schema with the description (and default, example) on it, and an optional one's `type` also
//! allows `null` (`["integer", "null"]`), as the derive writes for plain types.

use serde_json::Value;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// The document with the properties of every component folded, and without the components
/// nothing refers to (utoipa registers the element type of a generic field type, such as the
/// `Queue` of a `List<Queue, 1, 20>`, though the list is inline).
pub fn fold(mut document: OpenApi) -> OpenApi {
    if let Some(components) = document.components.as_mut() {
        for schema in components.schemas.values_mut() {
            if let RefOr::T(Schema::Object(object)) = schema {
                for property in object.properties.values_mut() {
                    let unfolded = std::mem::replace(property, RefOr::T(Schema::default()));
                    *property = folded(unfolded);
                }
            }
        }
    }
    drop_unreferenced(&mut document);
    document
}

fn drop_unreferenced(document: &mut OpenApi) {
    let Ok(text) = serde_json::to_string(&*document) else {
        return;
    };
    if let Some(components) = document.components.as_mut() {
        components
            .schemas
            .retain(|name, _| text.contains(&format!("\"#/components/schemas/{name}\"")));
    }
}

/// What a wrapper adds to the schema it wraps.
struct Annotations {
    description: Option<String>,
    default: Option<Value>,
    example: Option<Value>,
}

/// One property, unwrapped (or as it was, when it is not one of the two wrappers).
fn folded(property: RefOr<Schema>) -> RefOr<Schema> {
    match property {
        RefOr::T(Schema::AllOf(all)) if is_described(&all.items) => {
            let mut items = all.items.into_iter();
            let (Some(inner), Some(RefOr::T(Schema::Object(described)))) =
                (items.next(), items.next())
            else {
                unreachable!("is_described checked the shape")
            };
            let annotations = Annotations {
                description: described.description.or(all.description),
                default: all.default,
                example: all.example.or_else(|| all.examples.into_iter().next()),
            };
            annotate(folded(inner), annotations, false)
        }
        RefOr::T(Schema::OneOf(one)) if is_optional(&one.items) => {
            let inner = one.items.into_iter().next().expect("two items");
            let annotations = Annotations {
                description: one.description,
                default: one.default,
                example: one.example.or_else(|| one.examples.into_iter().next()),
            };
            annotate(folded(inner), annotations, true)
        }
        other => other,
    }
}

/// `[schema, {description}]`: the wrapper of a described field.
fn is_described(items: &[RefOr<Schema>]) -> bool {
    matches!(items, [inner, RefOr::T(Schema::Object(described))]
        if is_plain(&folded(inner.clone())) && described.properties.is_empty() && described.description.is_some())
}

/// An inline object or array schema (once unwrapped): what a field type documents itself as,
/// and what `annotate` can carry a description and `null` on. Anything else stays wrapped.
fn is_plain(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(_) | Schema::Array(_)))
}

/// `[schema, {type: null}]`, the schema inline: the wrapper of an optional field. (An optional
/// reference to a component stays as it is: a `$ref` cannot take a `type`.)
fn is_optional(items: &[RefOr<Schema>]) -> bool {
    matches!(items, [inner, RefOr::T(Schema::Object(null))]
        if is_plain(&folded(inner.clone())) && null.schema_type == SchemaType::Type(Type::Null))
}

/// `schema` with the wrapper's annotations on it, and `null` allowed when `nullable`.
fn annotate(schema: RefOr<Schema>, annotations: Annotations, nullable: bool) -> RefOr<Schema> {
    let or_null = |kind: &mut SchemaType| {
        if let SchemaType::Type(single) = kind {
            *kind = SchemaType::Array(vec![single.clone(), Type::Null]);
        }
    };
    let Annotations {
        description,
        default,
        example,
    } = annotations;
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            if nullable {
                or_null(&mut object.schema_type);
            }
            object.description = description.or(object.description);
            object.default = default.or(object.default);
            object.example = example.or(object.example);
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            if nullable {
                or_null(&mut array.schema_type);
            }
            array.description = description.or(array.description);
            array.default = default.or(array.default);
            array.example = example.or(array.example);
            RefOr::T(Schema::Array(array))
        }
        // `is_plain` let only these two through.
        // `is_plain` lets only the two kinds above through.
        other => other,
    }
}
