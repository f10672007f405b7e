//! The body of a policy `PUT` or `PATCH`: how it is read into the values it sets or reverts,
//! each checked against `Field::bounds` (the one source of the bounds, for the server and the
//! document alike: `schema.rs` documents them).

use crate::http::extract::body::{Fields, ReadBody};
use crate::http::problem::ApiError;
use crate::http::state::BodyLimits;
use crate::model::{Field, Kind, RateLimit};

/// The values a policy body sets (`Some`) or reverts (`None`), in body order.
pub type PolicyValues = Vec<(Field, Option<f64>)>;

/// Body of a policy `PUT` or `PATCH`: the values it sets and reverts. Its fields are data
/// (`model::Field`: names, kinds, bounds), so it is read field by field from that list rather
/// than by serde, and its schema is made from the same list (`schema.rs`).
pub struct PolicyRequest(pub PolicyValues);

impl ReadBody for PolicyRequest {
    fn read_body(bytes: &[u8], _limits: &BodyLimits) -> Result<Self, ApiError> {
        let mut fields = Fields::parse(bytes)?;
        let values = read_policy(&mut fields);
        fields.finish()?;
        Ok(Self(values))
    }
}

/// Reads every policy field the body has.
fn read_policy(f: &mut Fields<'_>) -> PolicyValues {
    let mut values = PolicyValues::new();
    for (name, field) in [
        ("lease_ms", Field::LeaseMs),
        ("max_attempts", Field::MaxAttempts),
        ("max_payload_bytes", Field::MaxPayloadBytes),
        ("max_in_flight", Field::MaxInFlight),
        ("paused", Field::Paused),
        ("weight", Field::Weight),
        ("completed_ttl_ms", Field::CompletedTtlMs),
        ("dead_ttl_ms", Field::DeadTtlMs),
        ("dedup_window_ms", Field::DedupWindowMs),
        ("start_ttl_ms", Field::StartTtlMs),
        ("workers_window_ms", Field::WorkersWindowMs),
    ] {
        read_value(f, name, field, &mut values);
    }
    let backoff = [
        ("initial_ms", Field::BackoffInitialMs),
        ("multiplier", Field::BackoffMultiplier),
        ("max_ms", Field::BackoffMaxMs),
        ("jitter", Field::BackoffJitter),
    ];
    if let Some(mut nested) = f.nested("backoff") {
        for (name, field) in backoff {
            read_value(&mut nested, name, field, &mut values);
        }
        f.nested_done(nested);
    } else if f.has("backoff") {
        values.extend(backoff.map(|(_, field)| (field, None)));
    }
    read_rate(f, Field::RatePerSecond, Field::RateBurst, &mut values);
    read_value(f, "strategy", Field::Strategy, &mut values);
    let groups = [
        ("max_in_flight", Field::GroupMaxInFlight),
        ("ordered", Field::GroupOrdered),
    ];
    if let Some(mut nested) = f.nested("groups") {
        for (name, field) in groups {
            read_value(&mut nested, name, field, &mut values);
        }
        read_rate(
            &mut nested,
            Field::GroupRatePerSecond,
            Field::GroupRateBurst,
            &mut values,
        );
        f.nested_done(nested);
    } else if f.has("groups") {
        values.extend(groups.map(|(_, field)| (field, None)));
        values.push((Field::GroupRatePerSecond, None));
        values.push((Field::GroupRateBurst, None));
    }
    values
}

/// Reads a `rate_limit` object (set as a whole: a burst left out is one second's worth) into
/// its two fields, or `null` (both revert).
pub(crate) fn read_rate(
    f: &mut Fields<'_>,
    rate_field: Field,
    burst_field: Field,
    values: &mut PolicyValues,
) {
    if let Some(mut nested) = f.nested("rate_limit") {
        let (min, max) = rate_field.bounds();
        let rate = nested.number("per_second", min, max);
        let rate = nested.required("per_second", rate);
        let (min, max) = burst_field.bounds();
        let burst = nested.int::<u64>("burst", min as i64, max as i64);
        if let Some(rate) = rate {
            let burst = burst.unwrap_or(RateLimit::per_second(rate).burst);
            values.push((rate_field, Some(rate)));
            values.push((burst_field, Some(burst as f64)));
        }
        f.nested_done(nested);
    } else if f.has("rate_limit") {
        values.push((rate_field, None));
        values.push((burst_field, None));
    }
}

/// Reads one policy field: absent (nothing), `null` (revert to the default) or a value within
/// the field's bounds.
pub(crate) fn read_value(
    f: &mut Fields<'_>,
    name: &'static str,
    field: Field,
    values: &mut PolicyValues,
) {
    if !f.has(name) {
        return;
    }
    let Some(raw) = f.present(name) else {
        values.push((field, None));
        return;
    };
    let value = match field.kind() {
        Kind::Boolean => match raw.get() {
            "true" => Some(1.0),
            "false" => Some(0.0),
            _ => None,
        },
        Kind::Integer | Kind::Number => serde_json::from_str::<f64>(raw.get()).ok(),
        Kind::Choice(names) => serde_json::from_str::<&str>(raw.get())
            .ok()
            .and_then(|name| names.iter().position(|n| *n == name))
            .map(|index| index as f64),
    };
    match value.map(|v| (v, field.problem(v))) {
        Some((value, None)) => values.push((field, Some(value))),
        Some((_, Some(problem))) => f.fail(name, problem),
        None => match field.kind() {
            Kind::Boolean => f.fail(name, "must be true or false"),
            Kind::Choice(names) => f.fail(name, format!("must be one of {}", names.join(", "))),
            Kind::Integer | Kind::Number => f.fail(name, "must be a number"),
        },
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// An unknown field's message lists each field the policy has, once.
    #[test]
    fn an_unknown_field_lists_each_known_field_once() {
        let mut fields = Fields::parse(br#"{"lease_mss": 1}"#).expect("object");
        read_policy(&mut fields);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("an unknown field was accepted");
        };
        let known = errors[0]
            .message
            .split_once("(known: ")
            .map(|(_, rest)| rest.trim_end_matches(')'))
            .expect("the known fields");
        let names: Vec<&str> = known.split(", ").collect();
        let mut once = names.clone();
        once.sort_unstable();
        once.dedup();
        assert_eq!(names.len(), once.len(), "{known}");
        assert!(
            names.contains(&"lease_ms") && names.contains(&"rate_limit"),
            "{known}"
        );
    }

    /// The policy body is read from `model::Field`'s list, not by serde, so the fields it reads
    /// are checked against the documented ones: a field the server reads but the document does
    /// not show (or the other way round) would be refused as unknown, or missing from clients.
    #[test]
    fn the_policy_reads_exactly_the_fields_its_schema_documents() {
        let mut fields = Fields::parse(b"{}").expect("empty object");
        read_policy(&mut fields);
        let mut read: Vec<String> = fields.asked().iter().map(|n| n.to_string()).collect();
        read.sort();
        read.dedup();
        let schema = serde_json::to_value(PolicyRequest::schema()).expect("schema");
        let mut documented: Vec<String> = schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        documented.sort();
        assert_eq!(read, documented);
    }

    /// The document's `minimum`/`maximum` of every policy field are `Field::bounds`, the one
    /// source of them: the document cannot promise what the server refuses, or the reverse.
    #[test]
    fn the_documented_bounds_are_the_enforced_ones() {
        let doc = serde_json::to_value(crate::openapi()).expect("document");
        let schemas = &doc["components"]["schemas"];
        let ranged = |f: &Field| matches!(f.kind(), Kind::Integer | Kind::Number);
        for field in Field::ALL.into_iter().filter(ranged) {
            let (object, leaf) = match field.name().split_once('.') {
                Some(("backoff", leaf)) => ("BackoffRequest", leaf),
                Some(("rate_limit", leaf)) => ("RateLimitRequest", leaf),
                Some(("groups", leaf)) => match leaf.split_once('.') {
                    Some((_, rate_leaf)) => ("RateLimitRequest", rate_leaf),
                    None => ("GroupLimitsRequest", leaf),
                },
                _ => ("PolicyRequest", field.name()),
            };
            let property = &schemas[object]["properties"][leaf];
            let documented = |key: &str| {
                property[key]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{}: no {key} in {property}", field.name()))
            };
            let (min, max) = field.bounds();
            assert_eq!(documented("minimum"), min, "{} minimum", field.name());
            assert_eq!(documented("maximum"), max, "{} maximum", field.name());
        }
    }
}
