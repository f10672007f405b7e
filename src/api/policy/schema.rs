//! The OpenAPI schema of a policy body, made from `model::Field`: each field's name, kind and
//! bounds come from there (the one source the server checks against), and only the words that
//! explain a field are written here.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType,
    Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::body::PolicyRequest;
use crate::model::{Field, Kind};

const POLICY: &str = "Body of a policy `PUT` or `PATCH`: any of the policy's fields. With `PUT`, \
the fields given\nbecome the queue's own values and every other field reverts to the server's \
default. With\n`PATCH` (JSON merge patch, RFC 7396) the fields given are set, a field given as \
`null`\nreverts to the default, and the rest stay as they are; `backoff` merges field by \
field,\n`rate_limit` is set as a whole.";
const BACKOFF: &str = "Retry delays: `initial_ms × multiplier^(attempt-1)`, capped at `max_ms`, \
spread by ±`jitter`.";
const GROUPS: &str = "The limits every task group of the queue has (tasks without a `group` are held \
only by the\nqueue's own limits); `null` reverts them all. With `PATCH` it merges field by field, \
like\n`backoff`; its `rate_limit` is set as a whole.";
const RATE_LIMIT: &str = "A rate limit: `per_second` leases on average, `burst` at most at once.";

/// What a field means, for people.
fn about(field: Field) -> &'static str {
    match field {
        Field::LeaseMs => {
            "Lease length when neither the worker nor the task asks for one (1000 to 86400000 ms)."
        }
        Field::MaxAttempts => {
            "Attempts before a task is dead (1 to 1000). Applies at each task's next failure, \
             unless\nthe task set its own at submit."
        }
        Field::BackoffInitialMs => {
            "Delay after the first failed attempt (0 to 30 days, at most `max_ms`)."
        }
        Field::BackoffMultiplier => "Growth of the delay per attempt (1 to 100).",
        Field::BackoffMaxMs => "Longest delay (0 to 30 days).",
        Field::BackoffJitter => "Random spread of each delay, as a fraction (0 to 1).",
        Field::MaxPayloadBytes => {
            "Largest payload or ack result, in bytes of JSON text (1 up to the server's own \
             limit)."
        }
        Field::RatePerSecond => "Leases per second (0.001 to 100000).",
        Field::RateBurst => {
            "Most leases at once after a quiet spell (1 to 100000); default one second's worth."
        }
        Field::MaxInFlight => {
            "Most tasks leased at once from this queue (1 to 1000000); `null` for no limit."
        }
        Field::Paused => "When true, nothing is leased from the queue; submits are still accepted.",
        Field::Weight => "Share in weighted multi-queue leasing (1 to 1000).",
        Field::CompletedTtlMs => {
            "How long completed and cancelled tasks are kept (1000 ms to 365 days)."
        }
        Field::DeadTtlMs => "How long dead tasks are kept (1000 ms to 365 days).",
        Field::DedupWindowMs => "How long `Idempotency-Key`s are remembered (1000 ms to 30 days).",
        Field::Strategy => {
            "Which ready task a lease takes: `priority` (highest priority, then oldest, across the\n\
             queue) or `fair` (the task groups take turns in proportion to their weights)."
        }
        Field::GroupMaxInFlight => {
            "Most tasks of one group leased at once (1 to 1000000); `null` for no limit."
        }
        Field::GroupRatePerSecond => "Leases per second from one group (0.001 to 100000).",
        Field::GroupRateBurst => {
            "Most leases of one group at once after a quiet spell (1 to 100000)."
        }
        Field::GroupOrdered => {
            "When true, each group's tasks run one at a time, in order; a failed attempt that \
             will\nbe retried holds its group until that task completes, dies or is cancelled."
        }
        Field::StartTtlMs => {
            "A ready task not leased within this long of becoming ready (1 ms to 365 days) goes \
             to\n`dead` with an `expired` entry in its history; a task's own `start_within_ms` \
             comes\nfirst. `null` for no start deadline."
        }
        Field::WorkersWindowMs => {
            "How long after its last lease or heartbeat a worker is listed in the workers view \
             and\ncounts for explain (60000 to 3600000 ms); its counts cover the window by whole \
             minutes."
        }
    }
}

/// One field's schema: its kind (`null` allowed, as it reverts the field, unless `required`),
/// its bounds and its words.
pub(crate) fn field_schema(field: Field, required: bool) -> Object {
    let (kind, format) = match field.kind() {
        Kind::Integer => (Type::Integer, Some(KnownFormat::Int64)),
        Kind::Number => (Type::Number, Some(KnownFormat::Double)),
        Kind::Boolean => (Type::Boolean, None),
        Kind::Choice(_) => (Type::String, None),
    };
    let schema_type = if required {
        SchemaType::Type(kind)
    } else {
        SchemaType::Array(vec![kind, Type::Null])
    };
    let mut schema = ObjectBuilder::new()
        .schema_type(schema_type)
        .format(format.map(SchemaFormat::KnownFormat))
        .description(Some(about(field)))
        .build();
    match field.kind() {
        Kind::Integer | Kind::Number => {
            let (min, max) = field.bounds();
            schema.minimum = Some(min.into());
            schema.maximum = Some(max.into());
        }
        Kind::Choice(names) => {
            let mut choices: Vec<serde_json::Value> = names.iter().map(|n| (*n).into()).collect();
            if !required {
                choices.push(serde_json::Value::Null);
            }
            schema.enum_values = Some(choices);
        }
        Kind::Boolean => {}
    }
    schema
}

/// The object of the fields under `group.` (`backoff`, `rate_limit`, `groups`); a nested
/// `rate_limit.` under it is the `RateLimitRequest` object.
fn group_schema(group: &str, description: &str, required: &[&str]) -> RefOr<Schema> {
    let mut object = closed_object(description);
    for field in Field::ALL {
        if let Some((_, leaf)) = field.name().split_once('.').filter(|(g, _)| *g == group) {
            if leaf.contains('.') {
                object
                    .properties
                    .entry("rate_limit".to_owned())
                    .or_insert_with(|| rate_limit_ref(RATE_PER_GROUP));
                continue;
            }
            let is_required = required.contains(&leaf);
            object.properties.insert(
                leaf.to_owned(),
                RefOr::T(Schema::Object(field_schema(field, is_required))),
            );
            if is_required {
                object.required.push(leaf.to_owned());
            }
        }
    }
    RefOr::T(Schema::Object(object))
}

/// An object that takes no field it does not list (as the reader refuses unknown fields).
pub(crate) fn closed_object(description: &str) -> Object {
    let mut object = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(description))
        .build();
    object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    object
}

/// An optional reference to a group's component (`null` reverts the whole group).
fn nullable_ref(component: &str, description: Option<&str>) -> RefOr<Schema> {
    let mut reference = Ref::from_schema_name(component);
    if let Some(description) = description {
        reference.description = description.to_owned();
    }
    let null = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null));
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(reference)
        .item(null)
        .into()
}

const RATE_PER_QUEUE: &str =
    "Leases granted per second, across all instances; `null` for no limit.";
pub(crate) const RATE_PER_GROUP: &str =
    "Leases granted per second from each group, across all instances; `null` for no limit.";

pub(crate) fn rate_limit_ref(description: &str) -> RefOr<Schema> {
    nullable_ref("RateLimitRequest", Some(description))
}

impl PartialSchema for PolicyRequest {
    fn schema() -> RefOr<Schema> {
        let mut object = closed_object(POLICY);
        for field in Field::ALL {
            let (name, property) = match field.name().split_once('.') {
                Some(("backoff", _)) => ("backoff", nullable_ref("BackoffRequest", None)),
                Some(("rate_limit", _)) => ("rate_limit", rate_limit_ref(RATE_PER_QUEUE)),
                Some(("groups", _)) => ("groups", nullable_ref("GroupLimitsRequest", None)),
                _ => (
                    field.name(),
                    RefOr::T(Schema::Object(field_schema(field, false))),
                ),
            };
            object.properties.entry(name.to_owned()).or_insert(property);
        }
        object.example = Some(crate::model::examples::policy_patch());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for PolicyRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PolicyRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "BackoffRequest".into(),
            group_schema("backoff", BACKOFF, &[]),
        ));
        schemas.push((
            "RateLimitRequest".into(),
            group_schema("rate_limit", RATE_LIMIT, &["per_second"]),
        ));
        schemas.push((
            "GroupLimitsRequest".into(),
            group_schema("groups", GROUPS, &[]),
        ));
    }
}
