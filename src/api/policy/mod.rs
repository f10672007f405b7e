//! A queue's dispatch policy as a REST resource: read it, replace it, merge into it (JSON merge
//! patch), reset it. Writes carry the policy's version as an `ETag` and honour `If-Match` and
//! `If-None-Match` (RFC 9110), so two operators editing at once cannot overwrite each other
//! blindly.

pub(crate) mod body;
pub(crate) mod schema;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::conditions::{Conditions, Subject, etag};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::Body;
use crate::http::extract::{QueueParams, QueuePath};
use crate::http::problem::ApiError;
use crate::http::responses::{PolicyReadErrors, PolicyResetErrors, PolicyWriteErrors};
use crate::http::state::BodyLimits;
use crate::model::{Field, QueuePolicy, rfc3339_ms};
use crate::store::policies::Policies;
use crate::store::policies::{PolicyMode, PolicyState, PolicyWrite, PolicyWriteOutcome};
use body::{PolicyRequest, PolicyValues};

/// A queue's policy, as `GET` and every write answer it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::policy_view)]
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
    policies: &Policies,
    limits: BodyLimits,
    queue: &crate::model::QueueName,
    headers: &HeaderMap,
    mode: PolicyMode,
    values: PolicyValues,
) -> Result<Response, ApiError> {
    if let Some((_, Some(bytes))) = values.iter().find(|(f, _)| *f == Field::MaxPayloadBytes) {
        if *bytes > limits.max_payload_bytes as f64 {
            return Err(ApiError::field(
                "max_payload_bytes",
                format!(
                    "must be at most the server's own limit, {}",
                    limits.max_payload_bytes
                ),
            ));
        }
    }
    let conditions = Conditions::read(headers);
    let subject = subject(queue);
    let current = async { Ok(policies.policy(queue).await?.version) };
    let expected_version = match conditions.version_to_expect(&subject, current).await? {
        Ok(expected) => expected,
        Err(refused) => return Ok(refused),
    };
    let write = PolicyWrite {
        mode,
        expected_version,
        updated_by: caller.name().map(str::to_owned),
        values,
    };
    match policies.write_policy(queue, &write).await? {
        PolicyWriteOutcome::Written(policy) => Ok(policy_response(queue.as_str(), *policy)),
        PolicyWriteOutcome::Stale { version } => Ok(conditions.refused(&subject, version)),
        PolicyWriteOutcome::Invalid(problem) => Err(ApiError::Validation(vec![problem])),
    }
}

/// What a policy write is about, for the words of a `412`.
fn subject(queue: &crate::model::QueueName) -> Subject<'static> {
    Subject {
        owner: format!("queue {queue}"),
        thing: "policy",
        some: "a policy",
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
    State(policies): State<Policies>,
    QueuePath(queue): QueuePath,
) -> Result<Response, ApiError> {
    let policy = policies.policy(&queue).await?;
    Ok(policy_response(queue.as_str(), policy))
}

/// Replace a queue's policy
///
/// The fields given become the queue's own values; every other field reverts to the server's
/// default. Applies to the very next dispatch on every instance. Creates the queue. With
/// `If-Match`, applies only if the policy is still at one of those versions (else `412`); with
/// `If-None-Match: *`, only if the queue has no policy of its own yet, so two operators
/// creating one at once cannot overwrite each other (the second gets `412`).
#[utoipa::path(
    put,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(
        QueueParams,
        ("If-Match" = Option<String>, Header, description = "Apply only if the policy is at one of these versions (ETags from a read, such as `\"3\"`, comma-separated), else `412`. `*`: only if the queue has a policy of its own (version 1 or later). Compared strongly: a weak tag (`W/\"3\"`) matches no version."),
        ("If-None-Match" = Option<String>, Header, description = "`*`: apply only if the queue has no policy of its own yet (version 0), so a write creates one and never replaces one, else `412`. ETags: apply only if the policy is at none of these versions.")
    ),
    request_body(content = PolicyRequest, example = json!(crate::model::examples::policy_patch())),
    responses(
        (status = 200, description = "The policy now", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyWriteErrors,
    )
)]
pub async fn put_queue_policy(
    caller: Caller,
    State(policies): State<Policies>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    Body(PolicyRequest(values)): Body<PolicyRequest>,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &policies,
        limits,
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
/// applies only if the policy is still at one of those versions (else `412`); with
/// `If-None-Match: *`, only if the queue has no policy of its own yet.
#[utoipa::path(
    patch,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(
        QueueParams,
        ("If-Match" = Option<String>, Header, description = "Apply only if the policy is at one of these versions (ETags from a read, such as `\"3\"`, comma-separated), else `412`. `*`: only if the queue has a policy of its own (version 1 or later). Compared strongly: a weak tag (`W/\"3\"`) matches no version."),
        ("If-None-Match" = Option<String>, Header, description = "`*`: apply only if the queue has no policy of its own yet (version 0), so a write creates one and never replaces one, else `412`. ETags: apply only if the policy is at none of these versions.")
    ),
    request_body(content = PolicyRequest, content_type = "application/merge-patch+json", example = json!(crate::model::examples::policy_patch())),
    responses(
        (status = 200, description = "The policy now", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyWriteErrors,
    )
)]
pub async fn patch_queue_policy(
    caller: Caller,
    State(policies): State<Policies>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    Body(PolicyRequest(values)): Body<PolicyRequest>,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &policies,
        limits,
        &queue,
        &headers,
        PolicyMode::Merge,
        values,
    )
    .await
}

/// Reset a queue's policy
///
/// Every field reverts to the server's default; the policy keeps its version, which grows.
/// With `If-Match`, only if the policy is still at one of those versions (else `412`).
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/policy",
    security(("bearer" = ["admin"])),
    tag = "policy",
    params(
        QueueParams,
        ("If-Match" = Option<String>, Header, description = "Apply only if the policy is at one of these versions (ETags from a read, such as `\"3\"`, comma-separated), else `412`. `*`: only if the queue has a policy of its own (version 1 or later). Compared strongly: a weak tag (`W/\"3\"`) matches no version."),
        ("If-None-Match" = Option<String>, Header, description = "`*`: apply only if the queue has no policy of its own yet (version 0), so a write creates one and never replaces one, else `412`. ETags: apply only if the policy is at none of these versions.")
    ),
    responses(
        (status = 200, description = "The policy now (the defaults)", body = QueuePolicyView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        PolicyResetErrors,
    )
)]
pub async fn delete_queue_policy(
    caller: Caller,
    State(policies): State<Policies>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &policies,
        limits,
        &queue,
        &headers,
        PolicyMode::Reset,
        Vec::new(),
    )
    .await
}
