//! A queue's dispatch policy as a REST resource: read it, replace it, merge into it (JSON merge
//! patch), reset it. Writes carry the policy's version as an `ETag` and honour `If-Match` and
//! `If-None-Match` (RFC 9110), so two operators editing at once cannot overwrite each other
//! blindly.

pub(super) mod body;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::extract::auth::Caller;
use crate::http::extract::body::Body;
use crate::http::extract::{QueueParams, QueuePath};
use crate::http::problem::ApiError;
use crate::http::responses::{PolicyReadErrors, PolicyResetErrors, PolicyWriteErrors};
use crate::http::state::AppState;
use crate::model::{Field, QueuePolicy, rfc3339_ms};
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

/// The preconditions of a policy write (RFC 9110 §13.1): `If-Match` and `If-None-Match`, each
/// `*` or a list of entity tags, on one header line or several. Our entity tags are versions
/// (`"3"`). A queue's policy exists once it has been written (version 1 and up, kept through
/// resets until the queue is deleted); version 0 is the defaults of a queue that never set one.
#[derive(Debug, Default, PartialEq)]
struct Conditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tags {
    Any,
    List(Vec<Tag>),
}

#[derive(Debug, Clone, PartialEq)]
struct Tag {
    weak: bool,
    /// `None` for a tag that is not one of ours: it matches no version.
    version: Option<u64>,
}

impl Conditions {
    fn read(headers: &HeaderMap) -> Self {
        Self {
            if_match: Tags::read(headers, header::IF_MATCH),
            if_none_match: Tags::read(headers, header::IF_NONE_MATCH),
        }
    }

    /// Whether a write may apply to the policy at `version`. `If-Match` compares strongly (a
    /// weak tag never matches), `If-None-Match` weakly (`W/"3"` is `"3"`).
    fn hold_at(&self, version: u64) -> bool {
        let exists = version > 0;
        let matched = match &self.if_match {
            None => true,
            Some(Tags::Any) => exists,
            Some(Tags::List(tags)) => tags.iter().any(|t| !t.weak && t.version == Some(version)),
        };
        let not_excluded = match &self.if_none_match {
            None => true,
            Some(Tags::Any) => !exists,
            Some(Tags::List(tags)) => tags.iter().all(|t| t.version != Some(version)),
        };
        matched && not_excluded
    }

    /// The one version the write may apply at, when the headers name it (checked by the write
    /// script itself, atomically): one strong tag in `If-Match`, or `If-None-Match: *` (version
    /// 0: no policy yet). `Err` when reading the version first is needed.
    fn expected_version(&self) -> Result<Option<u64>, ()> {
        match (&self.if_match, &self.if_none_match) {
            (None, None) => Ok(None),
            (Some(Tags::List(tags)), None) => match tags.as_slice() {
                [
                    Tag {
                        weak: false,
                        version: Some(version),
                    },
                ] => Ok(Some(*version)),
                _ => Err(()),
            },
            (None, Some(Tags::Any)) => Ok(Some(0)),
            _ => Err(()),
        }
    }

    /// Why a write was refused with the policy at `version`.
    fn refusal(&self, queue: &crate::model::QueueName, version: u64) -> String {
        let only_match = Self {
            if_match: self.if_match.clone(),
            if_none_match: None,
        };
        if !only_match.hold_at(version) {
            return if self.if_match == Some(Tags::Any) {
                format!(
                    "queue {queue} has no policy of its own yet, and If-Match: * writes only an \
                     existing one"
                )
            } else {
                format!(
                    "the policy of queue {queue} is at version {version}, not the one in \
                     If-Match: read it again and re-apply your change"
                )
            };
        }
        match &self.if_none_match {
            Some(Tags::Any) if version > 0 => format!(
                "queue {queue} already has a policy (version {version}), and If-None-Match: * \
                 writes only a policy that does not exist yet"
            ),
            Some(Tags::List(_)) if !self.hold_at(version) => format!(
                "the policy of queue {queue} is at version {version}, which If-None-Match \
                 excludes"
            ),
            _ => format!(
                "the policy of queue {queue} changed while this write was checked (it is now at \
                 version {version}): read it again and re-apply your change"
            ),
        }
    }
}

impl Tags {
    /// The entity tags of header `name` over all its lines; `None` when it is absent.
    fn read(headers: &HeaderMap, name: header::HeaderName) -> Option<Self> {
        let mut lines = headers.get_all(name).iter().peekable();
        lines.peek()?;
        let mut tags = Vec::new();
        for line in lines {
            let mut rest = line.to_str().unwrap_or("");
            loop {
                rest = rest.trim_start_matches([' ', '\t', ',']);
                if rest.is_empty() {
                    break;
                }
                if rest.starts_with('*') {
                    return Some(Self::Any);
                }
                let (weak, tag) = match rest.strip_prefix("W/") {
                    Some(tag) => (true, tag),
                    None => (false, rest),
                };
                // A quoted tag ends at its closing quote (it may hold commas); an unquoted one,
                // accepted for leniency, at the next comma.
                let (opaque, after) = match tag.strip_prefix('"') {
                    Some(quoted) => match quoted.find('"') {
                        Some(end) => (&quoted[..end], &quoted[end + 1..]),
                        None => (quoted, ""),
                    },
                    None => {
                        let end = tag.find(',').unwrap_or(tag.len());
                        (tag[..end].trim(), &tag[end..])
                    }
                };
                // Tags compare as text: `"03"` is not `"3"`.
                let version = opaque
                    .parse()
                    .ok()
                    .filter(|v: &u64| v.to_string() == opaque);
                tags.push(Tag { weak, version });
                rest = after;
            }
        }
        Some(Self::List(tags))
    }
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
        if *bytes > state.limits.max_payload_bytes as f64 {
            return Err(ApiError::field(
                "max_payload_bytes",
                format!(
                    "must be at most the server's own limit, {}",
                    state.limits.max_payload_bytes
                ),
            ));
        }
    }
    let conditions = Conditions::read(headers);
    let expected_version = match conditions.expected_version() {
        Ok(expected) => expected,
        Err(()) => {
            // A list of tags, or both headers: decide on the version read now, and write only
            // if it is still that version (else the write script refuses it as stale).
            let version = state.store.policies.policy(queue).await?.version;
            if !conditions.hold_at(version) {
                return Ok(precondition_failed(&conditions, queue, version));
            }
            Some(version)
        }
    };
    let write = PolicyWrite {
        mode,
        expected_version,
        updated_by: caller.name().map(str::to_owned),
        values,
    };
    match state.store.policies.write_policy(queue, &write).await? {
        PolicyWriteOutcome::Written(policy) => Ok(policy_response(queue.as_str(), policy)),
        PolicyWriteOutcome::Stale { version } => {
            Ok(precondition_failed(&conditions, queue, version))
        }
        PolicyWriteOutcome::Invalid(problem) => Err(ApiError::Validation(vec![problem])),
    }
}

/// The `412` for a write whose preconditions fail with the policy at `version`, with that
/// version's `ETag`.
fn precondition_failed(
    conditions: &Conditions,
    queue: &crate::model::QueueName,
    version: u64,
) -> Response {
    let mut response =
        ApiError::PreconditionFailed(conditions.refusal(queue, version)).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
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
    let policy = state.store.policies.policy(&queue).await?;
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
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    Body(values): Body<PolicyRequest>,
) -> Result<Response, ApiError> {
    write(&caller, &state, &queue, &headers, PolicyMode::Merge, values).await
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

    fn conditions(lines: &[(&'static str, &'static str)]) -> Conditions {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, HeaderValue::from_static(value));
        }
        Conditions::read(&headers)
    }

    #[test]
    fn if_match_holds_when_any_strong_tag_is_the_version() {
        let list = conditions(&[("if-match", r#""999", "3""#)]);
        assert!(list.hold_at(3) && list.hold_at(999) && !list.hold_at(4));
        let lines = conditions(&[("if-match", r#""1""#), ("if-match", r#""3""#)]);
        assert!(lines.hold_at(3));
        let weak = conditions(&[("if-match", r#"W/"3""#)]);
        assert!(!weak.hold_at(3), "If-Match compares strongly");
        let padded = conditions(&[("if-match", r#""03""#)]);
        assert!(!padded.hold_at(3), "tags compare as text");
        let comma = conditions(&[("if-match", r#""a,b", "3""#)]);
        assert!(comma.hold_at(3));
        let star = conditions(&[("if-match", "*")]);
        assert!(star.hold_at(1) && !star.hold_at(0));
    }

    #[test]
    fn if_none_match_star_holds_only_without_a_policy() {
        let star = conditions(&[("if-none-match", "*")]);
        assert!(star.hold_at(0) && !star.hold_at(1));
        assert_eq!(star.expected_version(), Ok(Some(0)));
        let weak = conditions(&[("if-none-match", r#"W/"3", "5""#)]);
        assert!(!weak.hold_at(3) && !weak.hold_at(5) && weak.hold_at(4));
    }

    #[test]
    fn only_one_strong_tag_is_checked_by_the_script_alone() {
        assert_eq!(conditions(&[]).expected_version(), Ok(None));
        let one = conditions(&[("if-match", r#""7""#)]);
        assert_eq!(one.expected_version(), Ok(Some(7)));
        for needs_a_read in [
            conditions(&[("if-match", r#""7", "8""#)]),
            conditions(&[("if-match", r#"W/"7""#)]),
            conditions(&[("if-match", "*")]),
            conditions(&[("if-match", r#""7""#), ("if-none-match", "*")]),
            conditions(&[("if-none-match", r#""7""#)]),
        ] {
            assert_eq!(needs_a_read.expected_version(), Err(()), "{needs_a_read:?}");
        }
    }
}
