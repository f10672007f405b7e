//! Batch acknowledgement: many leased tasks completed in one call, each fenced by its own
//! `lease_id` and answered on its own, as the single ack would answer it.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::finished;
use crate::http::batch::{BatchItem, BatchResult, Items, sort_out};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::{Id, JsonText, LeaseId, present};
use crate::http::extract::body::{Body, Check, check_size};
use crate::http::extract::{Durability, QueueParams, QueuePath, TaskPath};
use crate::http::problem::ApiError;
use crate::http::responses::AckBatchErrors;
use crate::http::state::BodyLimits;
use crate::store::dispatch::AckItem;
use crate::store::dispatch::Dispatch;

/// One ack of a batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckItemRequest {
    /// The task's id.
    #[schema(inline)]
    id: Id,
    /// The `lease_id` from its lease.
    #[schema(inline)]
    lease_id: LeaseId,
    /// Any JSON value to keep with the task, as for a single ack (at most 64 levels deep).
    #[serde(default, deserialize_with = "present")]
    #[schema(inline)]
    result: Option<JsonText>,
}

impl Check for AckItemRequest {
    const DEEP: &'static [&'static str] = &["result"];
}

impl BatchItem for AckItemRequest {
    const PLURAL: &'static str = "acks";
}

impl From<AckItemRequest> for AckItem {
    fn from(item: AckItemRequest) -> Self {
        AckItem {
            id: item.id.0,
            lease_id: item.lease_id.0,
            result: item.result.map(|result| result.0),
        }
    }
}

/// Body of a batch ack.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::ack_batch_request)]
pub struct AckBatchRequest {
    /// The acks (1 to 1000), each applied on its own terms.
    #[schema(inline)]
    acks: Items<AckItemRequest>,
}

impl Check for AckBatchRequest {}

/// A batch ack's outcomes, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::ack_batch_response)]
pub struct AckBatchResponse {
    pub results: Vec<BatchResult>,
}

/// Complete tasks in a batch
///
/// Acknowledges up to 1000 leased tasks of this queue in one call, each fenced by its own
/// `lease_id` and answered on its own, in request order, as the single ack would: `200` with
/// the task (with `"replayed": true` when that lease had already acked it), `409 lease-lost`,
/// `404`, `413` for a result over the limit, or `422` for an item that is not an ack. One bad
/// item stops nothing else. The valid acks go to Redis together, in bounded scripts sent at
/// once. More than 1000 acks, or a body over the server's limit, fails the whole call and
/// changes nothing. With `Taskgate-Durability: replicated`, a `503` means the acks are on the
/// primary only: repeat the call (each ack is replayed).
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/acks",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    params(
        QueueParams,
        ("Taskgate-Durability" = Option<String>, Header,
            description = "`replicated`: answer only once every ack is also on the configured number of Redis replicas (`WAIT`); `503` if they do not confirm in time")
    ),
    request_body(content = AckBatchRequest, example = json!(crate::model::examples::ack_batch_request())),
    responses(
        (status = 200, description = "Every ack's outcome, in request order", body = AckBatchResponse,
            headers(
                ("Taskgate-Replicas" = u32, description = "With `Taskgate-Durability: replicated`: how many replicas confirmed")
            )),
        AckBatchErrors,
    )
)]
pub async fn ack_tasks(
    _caller: Caller,
    State(dispatch): State<Dispatch>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    durability: Durability,
    Body(batch): Body<AckBatchRequest>,
) -> Result<(HeaderMap, Json<AckBatchResponse>), ApiError> {
    let items = batch.acks.read_each(&limits).into_iter().map(|item| {
        let ack = AckItem::from(item.map_err(ApiError::Validation)?);
        if let Some(result) = &ack.result {
            check_size("result", result, limits.max_payload_bytes)?;
        }
        Ok(ack)
    });
    let (mut results, checked) = sort_out(items);
    let (positions, valid): (Vec<_>, Vec<_>) = checked
        .into_iter()
        .map(|(index, ack)| ((index, ack.id), ack))
        .unzip();
    let (outcomes, confirmed) = dispatch.ack_batch(&queue, &valid, durability.0).await?;
    let replicas = durability.check(confirmed, "every ack of this batch")?;
    for ((index, id), outcome) in positions.into_iter().zip(outcomes) {
        let path = TaskPath {
            queue: queue.clone(),
            id,
        };
        results[index] = Some(match finished(outcome, &path) {
            Ok((task, replayed)) => BatchResult::done(index, 200, task, replayed),
            Err(problem) => BatchResult::refused(index, &problem),
        });
    }
    let results = results.into_iter().flatten().collect();
    Ok((replicas, Json(AckBatchResponse { results })))
}
