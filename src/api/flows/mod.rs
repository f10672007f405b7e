//! Flows (README, "Workflows"): many tasks across queues submitted at once, with dependencies
//! between them by local reference, stored all or nothing; read, followed (`events.rs`) and
//! cancelled as one.

mod body;
pub mod events;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::tasks::submit::{fingerprint, idempotency_key, submitted};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, check_size};
use crate::http::extract::{FlowParams, FlowPath};
use crate::http::problem::ApiError;
use crate::http::responses::{FlowReadErrors, FlowSubmitErrors, replayed};
use crate::http::state::BodyLimits;
use crate::model::{FieldError, Flow, FlowId};
use crate::store::flows::{FlowOutcome, Flows};
use crate::store::tasks::Idempotency;
use body::FlowRequest;

/// Submit a flow
///
/// Stores up to 1000 tasks, in any queues, with dependencies between them named by local
/// reference (`ref`, `depends_on`): a task runs once every task it depends on has completed
/// (`on_dependency_failure` says what it does when one fails), and its lease carries their
/// results. All or nothing: the `201` means every task is stored; on any error none of them
/// runs, and the tasks stored before it are taken back. Unknown references, a reference used
/// twice and cycles are `422`, naming them, with nothing stored. The flow's id names the queue
/// of its first task, which keeps the flow's record. With an `Idempotency-Key`, a repeat within
/// that queue's `dedup_window_ms` creates nothing and answers `200` with the first flow.
#[utoipa::path(
    post,
    path = "/v1/flows",
    security(("bearer" = ["producer", "admin"])),
    tag = "flows",
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Your name for this flow (1 to 255 printable characters): a repeat within the dedup window of the first task's queue returns the first flow")
    ),
    request_body(content = FlowRequest, example = json!(crate::model::examples::flow_request())),
    responses(
        (status = 201, description = "Every task is stored; those with nothing to wait for are ready", body = Flow,
            headers(("Location" = String, description = "The flow's URL"))),
        (status = 200, description = "A repeat of an earlier flow's Idempotency-Key: that flow, as it is now (with `Idempotent-Replayed: true`)", body = Flow,
            headers(
                ("Location" = String, description = "The flow's URL"),
                ("Idempotent-Replayed" = String, description = "`true`")
            )),
        FlowSubmitErrors,
    )
)]
pub async fn submit_flow(
    _caller: Caller,
    State(flows): State<Flows>,
    State(limits): State<BodyLimits>,
    headers: HeaderMap,
    Body(request): Body<FlowRequest>,
) -> Result<Response, ApiError> {
    let tasks = request.into_tasks(&limits).map_err(ApiError::Validation)?;
    let mut sizes = Vec::with_capacity(tasks.len());
    for (at, task) in tasks.iter().enumerate() {
        let payload = &task.task.payload;
        check_size(
            &format!("tasks[{at}].payload"),
            payload,
            limits.max_payload_bytes,
        )?;
        sizes.push((task.queue.clone(), payload.get().len()));
    }
    // A repeat is recognized by everything the flow asks for, in the order given.
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency {
        fingerprint: fingerprint(&format!("{tasks:?}")),
        key,
    });
    let located = |flow: &Flow| [(header::LOCATION, format!("/v1/flows/{}", flow.id))];
    match flows.submit(tasks, idempotency.as_ref()).await? {
        FlowOutcome::Created(flow) => {
            Ok((StatusCode::CREATED, located(&flow), Json(flow)).into_response())
        }
        FlowOutcome::Replayed(flow) => Ok(replayed((located(&flow), Json(flow)))),
        FlowOutcome::KeyReused { first } => Err(ApiError::field(
            "Idempotency-Key",
            format!(
                "was used within the dedup window for a different flow ({first}); use a new \
                 key for a new flow"
            ),
        )),
        FlowOutcome::KeyPending { first } => Err(ApiError::Conflict(format!(
            "this Idempotency-Key names flow {first}, which is still being stored by another \
             call: repeat this request with the same key in a moment to get it (a flow that \
             failed lets its key go)"
        ))),
        FlowOutcome::Refused { at, outcome } => {
            let (queue, size) = &sizes[at];
            match submitted(queue, *size, outcome) {
                Err(ApiError::Validation(errors)) => Err(ApiError::Validation(
                    errors
                        .into_iter()
                        .map(|e| FieldError::new(format!("tasks[{at}].{}", e.field), e.message))
                        .collect(),
                )),
                Err(ApiError::PayloadTooLarge(why)) => {
                    Err(ApiError::PayloadTooLarge(format!("tasks[{at}]: {why}")))
                }
                Err(problem) => Err(problem),
                Ok(_) => Err(ApiError::Internal(format!("tasks[{at}] was refused"))),
            }
        }
    }
}

/// Read a flow
///
/// The flow and each of its tasks with its state now (`null` once purged); `finished` once
/// every task has finished. A flow is kept while any of its tasks is.
#[utoipa::path(
    get,
    path = "/v1/flows/{id}",
    security(("bearer" = ["producer", "admin"])),
    tag = "flows",
    params(FlowParams),
    responses(
        (status = 200, description = "The flow", body = Flow),
        FlowReadErrors,
    )
)]
pub async fn get_flow(
    _caller: Caller,
    State(flows): State<Flows>,
    FlowPath(id): FlowPath,
) -> Result<Json<Flow>, ApiError> {
    flows.read(&id).await?.map(Json).ok_or_else(|| unknown(&id))
}

/// Cancel a flow
///
/// Cancels every unfinished task of the flow (waiting, scheduled, ready or leased: a leased
/// task's lease ends at once); finished tasks keep their state. Answers the flow after it.
#[utoipa::path(
    delete,
    path = "/v1/flows/{id}",
    security(("bearer" = ["producer", "admin"])),
    tag = "flows",
    params(FlowParams),
    responses(
        (status = 200, description = "The flow, its unfinished tasks cancelled", body = Flow),
        FlowReadErrors,
    )
)]
pub async fn cancel_flow(
    _caller: Caller,
    State(flows): State<Flows>,
    FlowPath(id): FlowPath,
) -> Result<Json<Flow>, ApiError> {
    flows
        .cancel(&id)
        .await?
        .map(Json)
        .ok_or_else(|| unknown(&id))
}

fn unknown(id: &FlowId) -> ApiError {
    ApiError::NotFound(format!("no flow {id}"))
}
