//! A queue's task groups as a REST resource (README, "Distribution strategies"): page through
//! them, read one (its tasks, where it stands, its limits), and set, merge into or reset its
//! own limits (`weight`, `max_in_flight`, `rate_limit`, `paused`) under `If-Match`, as the
//! queue policy is.

mod body;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::http::conditions::{Conditions, Subject, etag};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::Body;
use crate::http::extract::{GroupParams, GroupPath, Page, PageParams, QueueParams, QueuePath};
use crate::http::problem::ApiError;
use crate::http::responses::{
    GroupListErrors, GroupReadErrors, GroupResetErrors, GroupWriteErrors,
};
use crate::model::{GroupName, GroupPage, GroupView};
use crate::store::groups::{GroupWrite, GroupWriteOutcome, Groups};
use crate::store::policies::{PolicyMode, PolicyWrite};
use body::GroupRequest;

const IF_MATCH: &str = "Apply only if the group's limits are at one of these versions (ETags from a read, comma-separated), else `412`. `*`: only if the group has limits of its own. Compared strongly.";
const IF_NONE_MATCH: &str = "`*`: apply only if the group has no limits of its own yet (version 0), else `412`. ETags: apply only if its limits are at none of these versions.";

/// A group, with its version as `ETag`.
fn group_response(view: GroupView) -> Response {
    ([(header::ETAG, etag(view.version))], Json(view)).into_response()
}

/// List a queue's groups
///
/// The groups that have live tasks (ready, scheduled or leased) or limits of their own, by
/// name, each with its counts, where it stands and its limits. Pages follow each other through
/// `next_cursor`.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/groups",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "groups",
    params(QueueParams, PageParams),
    responses((status = 200, description = "One page of groups", body = GroupPage), GroupListErrors)
)]
pub async fn list_groups(
    _caller: Caller,
    State(groups): State<Groups>,
    QueuePath(queue): QueuePath,
    page: Page,
) -> Result<Json<GroupPage>, ApiError> {
    let after = page
        .cursor
        .as_deref()
        .map(GroupName::parse)
        .transpose()
        .map_err(|_| ApiError::field("cursor", "is not a cursor we gave"))?;
    Ok(Json(groups.page(&queue, after.as_ref(), page.limit).await?))
}

/// Get a group
///
/// The group's tasks by state, whether it takes its turns or a limit holds it (and which),
/// its in-flight count and rate tokens, its limits in effect (its own over the queue policy's
/// `groups` defaults) and the version of its own, also sent as `ETag`. A group the queue has
/// never seen answers as an idle one with the defaults and version 0.
#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/groups/{group}",
    security(("bearer" = ["producer", "worker", "admin"])),
    tag = "groups",
    params(GroupParams),
    responses(
        (status = 200, description = "The group", body = GroupView,
            headers(("ETag" = String, description = "The version of its own limits, quoted"))),
        GroupReadErrors,
    )
)]
pub async fn get_group(
    _caller: Caller,
    State(groups): State<Groups>,
    path: GroupPath,
) -> Result<Response, ApiError> {
    Ok(group_response(
        groups.group(&path.queue, &path.group).await?,
    ))
}

/// Replace a group's limits
///
/// The fields given become the group's own; the rest revert to the queue policy's. Applies to
/// the very next lease on every instance: a paused group leaves the turns at once. With
/// `If-Match`, only if its limits are still at one of those versions (else `412`).
#[utoipa::path(
    put,
    path = "/v1/queues/{queue}/groups/{group}",
    security(("bearer" = ["admin"])),
    tag = "groups",
    params(
        GroupParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH)
    ),
    request_body(content = GroupRequest, example = json!(crate::model::examples::group_patch())),
    responses(
        (status = 200, description = "The group now", body = GroupView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        GroupWriteErrors,
    )
)]
pub async fn put_group(
    caller: Caller,
    State(groups): State<Groups>,
    path: GroupPath,
    headers: HeaderMap,
    Body(GroupRequest(values)): Body<GroupRequest>,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &groups,
        path,
        &headers,
        PolicyMode::Replace,
        values,
    )
    .await
}

/// Change some of a group's limits
///
/// A JSON merge patch (RFC 7396): the fields given are set, a field given as `null` reverts to
/// the queue policy's, the others stay. Applies to the very next lease on every instance.
#[utoipa::path(
    patch,
    path = "/v1/queues/{queue}/groups/{group}",
    security(("bearer" = ["admin"])),
    tag = "groups",
    params(
        GroupParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH)
    ),
    request_body(content = GroupRequest, content_type = "application/merge-patch+json", example = json!(crate::model::examples::group_patch())),
    responses(
        (status = 200, description = "The group now", body = GroupView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        GroupWriteErrors,
    )
)]
pub async fn patch_group(
    caller: Caller,
    State(groups): State<Groups>,
    path: GroupPath,
    headers: HeaderMap,
    Body(GroupRequest(values)): Body<GroupRequest>,
) -> Result<Response, ApiError> {
    write(&caller, &groups, path, &headers, PolicyMode::Merge, values).await
}

/// Reset a group's limits
///
/// Every limit reverts to the queue policy's and the group keeps nothing of its own (version
/// 0); its tasks are untouched. With `If-Match`, only if its limits are still at one of those
/// versions (else `412`).
#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/groups/{group}",
    security(("bearer" = ["admin"])),
    tag = "groups",
    params(
        GroupParams,
        ("If-Match" = Option<String>, Header, description = IF_MATCH),
        ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH)
    ),
    responses(
        (status = 200, description = "The group now (the queue policy's limits)", body = GroupView,
            headers(("ETag" = String, description = "\"0\": it has no limits of its own"))),
        GroupResetErrors,
    )
)]
pub async fn delete_group(
    caller: Caller,
    State(groups): State<Groups>,
    path: GroupPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    write(
        &caller,
        &groups,
        path,
        &headers,
        PolicyMode::Reset,
        Vec::new(),
    )
    .await
}

async fn write(
    caller: &Caller,
    groups: &Groups,
    path: GroupPath,
    headers: &HeaderMap,
    mode: PolicyMode,
    values: body::GroupValues,
) -> Result<Response, ApiError> {
    let GroupPath { queue, group } = path;
    let conditions = Conditions::read(headers);
    let subject = Subject {
        owner: format!("group {} in queue {queue}", group.as_str()),
        thing: "limit set",
        some: "a limit set",
    };
    let current = async { Ok(groups.group(&queue, &group).await?.version) };
    let expected_version = match conditions.version_to_expect(&subject, current).await? {
        Ok(expected) => expected,
        Err(refused) => return Ok(refused),
    };
    let write = GroupWrite {
        group,
        write: PolicyWrite {
            mode,
            expected_version,
            updated_by: caller.name().map(str::to_owned),
            values,
        },
    };
    match groups.write(&queue, &write).await? {
        GroupWriteOutcome::Written(view) => Ok(group_response(*view)),
        GroupWriteOutcome::Stale { version } => Ok(conditions.refused(&subject, version)),
    }
}
