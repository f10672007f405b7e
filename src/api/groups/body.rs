//! The body of a group `PUT` or `PATCH`: the limits a group may set itself, read and
//! documented from the same `model::Field`s as the queue policy (their bounds are those).

use std::borrow::Cow;

use utoipa::openapi::schema::Schema;
use utoipa::openapi::{RefOr, schema::Object};
use utoipa::{PartialSchema, ToSchema};

use crate::api::policy::body::{PolicyValues, read_rate, read_value};
use crate::api::policy::schema::{RATE_PER_GROUP, closed_object, field_schema, rate_limit_ref};
use crate::http::extract::body::{Fields, ReadBody};
use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;
use crate::model::Field;

const GROUP: &str = "Body of a group `PUT` or `PATCH`: the limits this group sets itself. With \
`PUT`, the fields\ngiven become its own and the rest revert to the queue policy's (`groups.*`, \
weight 1, not\npaused). With `PATCH` (JSON merge patch, RFC 7396) the fields given are set, a \
field given as\n`null` reverts, and the rest stay; `rate_limit` is set as a whole.";

/// The group fields a body may hold, with what each means for one group.
const FIELDS: [(&str, Field, &str); 3] = [
    (
        "weight",
        Field::Weight,
        "Its share in the `fair` strategy's turns (1 to 1000; default 1).",
    ),
    (
        "max_in_flight",
        Field::MaxInFlight,
        "Most of its tasks leased at once (1 to 1000000); `null` for the queue policy's.",
    ),
    (
        "paused",
        Field::Paused,
        "When true, none of its tasks is leased; the rest of the queue goes on.",
    ),
];

/// Body of a group `PUT` or `PATCH`: the values it sets and reverts.
/// The values a group body sets (`Some`) or reverts (`None`).
pub type GroupValues = PolicyValues;

pub struct GroupRequest(pub GroupValues);

impl ReadBody for GroupRequest {
    fn read_body(bytes: &[u8], _limits: &BodyLimits) -> Result<Self, ApiError> {
        let mut fields = Fields::parse(bytes)?;
        let mut values = PolicyValues::new();
        for (name, field, _) in FIELDS {
            read_value(&mut fields, name, field, &mut values);
        }
        read_rate(
            &mut fields,
            Field::RatePerSecond,
            Field::RateBurst,
            &mut values,
        );
        fields.finish()?;
        Ok(Self(values))
    }
}

impl PartialSchema for GroupRequest {
    fn schema() -> RefOr<Schema> {
        let mut object: Object = closed_object(GROUP);
        for (name, field, about) in FIELDS {
            let mut schema = field_schema(field, false);
            schema.description = Some(about.to_owned());
            object
                .properties
                .insert(name.to_owned(), RefOr::T(Schema::Object(schema)));
        }
        object
            .properties
            .insert("rate_limit".to_owned(), rate_limit_ref(RATE_PER_GROUP));
        object.example = Some(crate::model::examples::group_patch());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for GroupRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GroupRequest")
    }
}
