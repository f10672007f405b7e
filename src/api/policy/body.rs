//! The body of a policy `PUT` or `PATCH`: its documented shape, and how it is read into the
//! values it sets or reverts, each checked against `Field::bounds` (the one source of the
//! bounds, for the server and the document alike).

use utoipa::ToSchema;

use crate::http::extract::body::{Fields, RequestBody};
use crate::model::{Field, Kind, RateLimit};

/// Body of a policy `PUT` or `PATCH`: any of the policy's fields. With `PUT`, the fields given
/// become the queue's own values and every other field reverts to the server's default. With
/// `PATCH` (JSON merge patch, RFC 7396) the fields given are set, a field given as `null`
/// reverts to the default, and the rest stay as they are; `backoff` merges field by field,
/// `rate_limit` is set as a whole.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::model::examples::policy_patch)]
pub struct PolicyRequest {
    /// Lease length when neither the worker nor the task asks for one (1000 to 86400000 ms).
    #[schema(minimum = 1000, maximum = 86_400_000)]
    lease_ms: Option<u64>,
    /// Attempts before a task is dead (1 to 1000). Applies at each task's next failure, unless
    /// the task set its own at submit.
    #[schema(minimum = 1, maximum = 1000)]
    max_attempts: Option<u32>,
    backoff: Option<BackoffRequest>,
    /// Largest payload or ack result, in bytes of JSON text (1 up to the server's own limit).
    #[schema(minimum = 1, maximum = 1_073_741_824_u64)]
    max_payload_bytes: Option<u64>,
    /// Leases granted per second, across all instances; `null` for no limit.
    rate_limit: Option<RateLimitRequest>,
    /// Most tasks leased at once from this queue (1 to 1000000); `null` for no limit.
    #[schema(minimum = 1, maximum = 1_000_000)]
    max_in_flight: Option<u64>,
    /// When true, nothing is leased from the queue; submits are still accepted.
    paused: Option<bool>,
    /// Share in weighted multi-queue leasing (1 to 1000).
    #[schema(minimum = 1, maximum = 1000)]
    weight: Option<u32>,
    /// How long completed and cancelled tasks are kept (1000 ms to 365 days).
    #[schema(minimum = 1000, maximum = 31_536_000_000_u64)]
    completed_ttl_ms: Option<u64>,
    /// How long dead tasks are kept (1000 ms to 365 days).
    #[schema(minimum = 1000, maximum = 31_536_000_000_u64)]
    dead_ttl_ms: Option<u64>,
    /// How long `Idempotency-Key`s are remembered (1000 ms to 30 days).
    #[schema(minimum = 1000, maximum = 2_592_000_000_u64)]
    dedup_window_ms: Option<u64>,
}

/// Retry delays: `initial_ms × multiplier^(attempt-1)`, capped at `max_ms`, spread by ±`jitter`.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document.
pub struct BackoffRequest {
    /// Delay after the first failed attempt (0 to 30 days, at most `max_ms`).
    #[schema(minimum = 0, maximum = 2_592_000_000_u64)]
    initial_ms: Option<u64>,
    /// Growth of the delay per attempt (1 to 100).
    #[schema(minimum = 1, maximum = 100)]
    multiplier: Option<f64>,
    /// Longest delay (0 to 30 days).
    #[schema(minimum = 0, maximum = 2_592_000_000_u64)]
    max_ms: Option<u64>,
    /// Random spread of each delay, as a fraction (0 to 1).
    #[schema(minimum = 0, maximum = 1)]
    jitter: Option<f64>,
}

/// A rate limit: `per_second` leases on average, `burst` at most at once.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document.
pub struct RateLimitRequest {
    /// Leases per second (0.001 to 100000).
    #[schema(minimum = 0.001, maximum = 100000)]
    per_second: f64,
    /// Most leases at once after a quiet spell (1 to 100000); default one second's worth.
    #[schema(minimum = 1, maximum = 100000)]
    burst: Option<u64>,
}

/// The values a policy body sets (`Some`) or reverts (`None`), in body order.
pub type PolicyValues = Vec<(Field, Option<f64>)>;

impl RequestBody for PolicyRequest {
    type Checked = PolicyValues;

    fn read(f: &mut Fields<'_>) -> PolicyValues {
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
        if let Some(mut nested) = f.nested("rate_limit") {
            let (min, max) = Field::RatePerSecond.bounds();
            let rate = nested.number("per_second", min, max);
            let rate = nested.required("per_second", rate);
            let (min, max) = Field::RateBurst.bounds();
            let burst = nested.int::<u64>("burst", min as i64, max as i64);
            if let Some(rate) = rate {
                let burst = burst.unwrap_or(RateLimit::per_second(rate).burst);
                values.push((Field::RatePerSecond, Some(rate)));
                values.push((Field::RateBurst, Some(burst as f64)));
            }
            f.nested_done(nested);
        } else if f.has("rate_limit") {
            values.push((Field::RatePerSecond, None));
            values.push((Field::RateBurst, None));
        }
        values
    }
}

/// Reads one policy field: absent (nothing), `null` (revert to the default) or a value within
/// the field's bounds.
fn read_value(f: &mut Fields<'_>, name: &'static str, field: Field, values: &mut PolicyValues) {
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
    };
    match value.map(|v| (v, field.problem(v))) {
        Some((value, None)) => values.push((field, Some(value))),
        Some((_, Some(problem))) => f.fail(name, problem),
        None if field.kind() == Kind::Boolean => f.fail(name, "must be true or false"),
        None => f.fail(name, "must be a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's `minimum`/`maximum` of every policy field are `Field::bounds`, the one
    /// source of them: the document cannot promise what the server refuses, or the reverse.
    #[test]
    fn the_documented_bounds_are_the_enforced_ones() {
        let doc = serde_json::to_value(crate::openapi()).expect("document");
        let schemas = &doc["components"]["schemas"];
        for field in Field::ALL.into_iter().filter(|f| f.kind() != Kind::Boolean) {
            let (object, leaf) = match field.name().split_once('.') {
                Some(("backoff", leaf)) => ("BackoffRequest", leaf),
                Some(("rate_limit", leaf)) => ("RateLimitRequest", leaf),
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
