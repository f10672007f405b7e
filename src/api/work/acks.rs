//! Batch acknowledgement: many leased tasks completed in one call, each fenced by its own
//! `lease_id` and answered on its own, as the single ack would answer it.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::{finished, lease_id};
use crate::http::batch::{BatchResult, Items, read_items};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, Fields, RequestBody, check_size};
use crate::http::extract::{Durability, QueueParams, QueuePath, TaskPath};
use crate::http::problem::ApiError;
use crate::http::responses::AckBatchErrors;
use crate::http::state::AppState;
use crate::model::TaskId;
use crate::store::dispatch::AckItem;

/// One ack of a batch.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
pub struct AckItemRequest {
    /// The task's id.
    #[schema(format = Uuid)]
    id: String,
    /// The `lease_id` from its lease.
    #[schema(min_length = 1, max_length = 128)]
    lease_id: String,
    /// Any JSON value to keep with the task, as for a single ack (at most 64 levels deep).
    #[schema(value_type = Option<serde_json::Value>)]
    result: Option<serde_json::Value>,
}

impl RequestBody for AckItemRequest {
    type Checked = AckItem;

    fn read(f: &mut Fields<'_>) -> AckItem {
        let id = f.any_text("id");
        let id = match f.required("id", id).map(|id| TaskId::parse(&id)) {
            Some(Ok(id)) => Some(id),
            Some(Err(problem)) => {
                f.fail("id", problem.message);
                None
            }
            None => None,
        };
        AckItem {
            // A placeholder only when `f` holds a problem, so the item is refused anyway.
            id: id.unwrap_or_else(TaskId::new_v7),
            lease_id: lease_id(f),
            result: f.raw("result").map(serde_json::value::RawValue::to_owned),
        }
    }
}

/// Body of a batch ack.
#[derive(ToSchema)]
#[allow(dead_code)] // The wire shape, for the OpenAPI document; `read` below reads it.
#[schema(example = crate::model::examples::ack_batch_request)]
pub struct AckBatchRequest {
    /// The acks (1 to 1000), each applied on its own terms.
    #[schema(min_items = 1, max_items = 1000)]
    acks: Vec<AckItemRequest>,
}

impl RequestBody for AckBatchRequest {
    type Checked = Items<AckItem>;

    fn read(f: &mut Fields<'_>) -> Items<AckItem> {
        read_items::<AckItemRequest>(f, "acks", "acks")
    }
}

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
    State(state): State<AppState>,
    QueuePath(queue): QueuePath,
    durability: Durability,
    Body(items): Body<AckBatchRequest>,
) -> Result<(HeaderMap, Json<AckBatchResponse>), ApiError> {
    let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(items.len());
    let (mut valid, mut positions) = (Vec::new(), Vec::new());
    for (index, item) in items.into_iter().enumerate() {
        let checked = item.map_err(ApiError::Validation).and_then(|ack| {
            if let Some(result) = &ack.result {
                check_size("result", result, state.limits.max_payload_bytes)?;
            }
            Ok(ack)
        });
        match checked {
            Ok(ack) => {
                positions.push((index, ack.id));
                valid.push(ack);
                results.push(None);
            }
            Err(problem) => results.push(Some(BatchResult::refused(index, &problem))),
        }
    }
    let (outcomes, confirmed) = state
        .store
        .dispatch
        .ack_batch(&queue, &valid, durability.0)
        .await?;
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
