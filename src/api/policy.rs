//! A queue's dispatch policy as a REST resource: read it, replace it, merge into it (JSON merge
//! patch), reset it. Writes carry the policy's version as an `ETag` and honour `If-Match`, so
//! two operators editing at once cannot overwrite each other blindly.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::{Body, Fields, RequestBody};
use super::extract::{QueueParams, QueuePath};
use super::responses::{PolicyReadErrors, PolicyResetErrors, PolicyWriteErrors};
use crate::error::ApiError;
use crate::model::{Field, Kind, QueuePolicy, RateLimit, rfc3339_ms};
use crate::store::{PolicyMode, PolicyState, PolicyWrite, PolicyWriteOutcome};

/// A queue's policy, as `GET` and every write answer it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::examples::policy_view)]
pub struct QueuePolicyView {
    pub queue: String,
    /// The effective values: the queue's own where it has them, else the server's defaults.
    pub policy: QueuePolicy,
    /// The fields the queue sets itself (dotted paths, such as `backoff.jitter`).
    pub overrides: Vec<String>,
    /// Grows by one on every change; 0 when the queue never had a policy of its own. Also the
    /// `ETag` (`"3"`): send it back as `If-Match` to change the policy only if nobody else did.
    pub version: u64,
    /// When the policy last changed (RFC 3339, Redis clock).
    pub updated_at: Option<String>,
    /// Who changed it last, when known.
    pub updated_by: Option<String>,
}

/// Body of a policy `PUT` or `PATCH`: any of the policy's fields. With `PUT`, the fields given
/// become the queue's own values and every other field reverts to the server's default. With
/// `PATCH` (JSON merge patch, RFC 7396) the fields given are set, a field given as `null`
/// reverts to the default, and the rest stay as they are; `backoff` merges field by field,
/// `rate_limit` is set as a whole.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::examples::policy_patch)]
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

/// The `If-Match` version, if one was sent. `*` asks for no precondition; a value that is not
/// one of our ETags can match no version.
fn if_match(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::IF_MATCH)?.to_str().unwrap_or("");
    if value.trim() == "*" {
        return None;
    }
    Some(
        value
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .unwrap_or(u64::MAX),
    )
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::try_from(format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The view of a policy, with its `ETag`.
fn policy_response(queue: &str, state: PolicyState) -> Response {
    let tag = etag(state.version);
    let view = QueuePolicyView {
        queue: queue.to_owned(),
        overrides: state.own.iter().map(|f| f.name().to_owned()).collect(),
        version: state.version,
        updated_at: state.updated_at.map(rfc3339_ms),
        updated_by: state.updated_by,
        policy: state.effective,
    };
    ([(header::ETAG, tag)], Json(view)).into_response()
}

async fn write(
    caller: &Caller,
    state: &AppState,
    queue: &crate::model::QueueName,
    headers: &HeaderMap,
    mode: PolicyMode,
    values: PolicyValues,
) -> Result<Response, ApiError> {
    if let Some((_, Some(bytes))) = values.iter().find(|(f, _)| *f == Field::MaxPayloadBytes) {
        if *bytes > state.max_payload_bytes as f64 {
            return Err(ApiError::field(
                "max_payload_bytes",
                format!(
                    "must be at most the server's own limit, {}",
                    state.max_payload_bytes
                ),
            ));
        }
    }
    let write = PolicyWrite {
        mode,
        expected_version: if_match(headers),
        updated_by: caller.name().map(str::to_owned),
        values,
    };
    match state.store.write_policy(queue, &write).await? {
        PolicyWriteOutcome::Written(policy) => Ok(policy_response(queue.as_str(), policy)),
        PolicyWriteOutcome::Stale { version } => {
            let mut response = ApiError::PreconditionFailed(format!(
                "the policy of queue {queue} is at version {version}, not the one in If-Match: \
                 read it again and re-apply your change"
            ))
            .into_response();
            response.headers_mut().insert(header::ETAG, etag(version));
            Ok(response)
        }
        PolicyWriteOutcome::Invalid(problem) => Err(ApiError::Validation(vec![problem])),
    }
}

/// Get a queue's policy
///
/// The effective policy (the queue's own values over the server's defaults), which fields are
/// the queue's own, and the version, also sent as `ETag`. A queue that never set anything
/// answers with the defaults and version 0.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "policy",
    params(QueueParams),
    responses(
        (status = 200, description = "The queue's policy", body = QueuePolicyView,
            headers(("ETag" = String, description = "The policy's version, quoted"))),
        PolicyReadErrors,
    )
)]
pub async fn get_queue_policy(
    _caller: Caller,
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
) -> Result<Response, ApiError> {
    let policy = state.store.policy(&queue).await?;
    Ok(policy_response(queue.as_str(), policy))
}

/// Replace a queue's policy
///
/// The fields given become the queue's own values; every other field reverts to the server's
/// default. Applies to the very next dispatch on every instance. Creates the queue. With
/// `If-Match`, applies only if the policy is still at that version (else `412`).
#[utoipa::path(
    put,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(QueueParams, ("If-Match" = Option<String>, Header, description = "Apply only at this version (an ETag from a read)")),
    request_body(content = PolicyRequest, example = json!(crate::examples::policy_patch())),
    responses(
        (status = 200, description = "The policy now", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyWriteErrors,
    )
)]
pub async fn put_queue_policy(
    caller: Caller,
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    Body(values): Body<PolicyRequest>,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &state,
        &queue,
        &headers,
        PolicyMode::Replace,
        values,
    )
    .await
}

/// Change some of a queue's policy
///
/// A JSON merge patch (RFC 7396; `application/merge-patch+json` or `application/json`): the
/// fields given are set, a field given as `null` reverts to the server's default, others stay.
/// Applies to the very next dispatch on every instance. Creates the queue. With `If-Match`,
/// applies only if the policy is still at that version (else `412`).
#[utoipa::path(
    patch,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(QueueParams, ("If-Match" = Option<String>, Header, description = "Apply only at this version (an ETag from a read)")),
    request_body(content = PolicyRequest, content_type = "application/merge-patch+json", example = json!(crate::examples::policy_patch())),
    responses(
        (status = 200, description = "The policy now", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyWriteErrors,
    )
)]
pub async fn patch_queue_policy(
    caller: Caller,
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    Body(values): Body<PolicyRequest>,
) -> Result<Response, ApiError> {
    write(&caller, &state, &queue, &headers, PolicyMode::Merge, values).await
}

/// Reset a queue's policy
///
/// Every field reverts to the server's default. With `If-Match`, only if the policy is still
/// at that version (else `412`).
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(QueueParams, ("If-Match" = Option<String>, Header, description = "Apply only at this version (an ETag from a read)")),
    responses(
        (status = 200, description = "The policy now (the defaults)", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyResetErrors,
    )
)]
pub async fn delete_queue_policy(
    caller: Caller,
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &state,
        &queue,
        &headers,
        PolicyMode::Reset,
        Vec::new(),
    )
    .await
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
