//! Flows (README, "Workflows"): many tasks across queues submitted at once, with dependencies
//! between them by local reference, stored all or nothing; read, followed (`events.rs`) and
//! cancelled as one.

mod body;
pub mod events;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::tasks::submit::submitted;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::{Body, check_size};
use crate::http::extract::{FlowParams, FlowPath};
use crate::http::problem::ApiError;
use crate::http::responses::{FlowReadErrors, FlowSubmitErrors};
use crate::http::state::BodyLimits;
use crate::model::{FieldError, Flow, FlowId};
use crate::store::flows::{FlowOutcome, Flows};
use body::FlowRequest;

/// Submit a flow
///
/// Stores up to 1000 tasks, in any queues, with dependencies between them named by local
/// reference (`ref`, `depends_on`): a task runs once every task it depends on has completed
/// (`on_dependency_failure` says what it does when one fails), and its lease carries their
/// results. All or nothing: the `201` means every task is stored; on any error none of them
/// runs (the tasks stored before it are cancelled unrun). Unknown references, a reference used
/// twice and cycles are `422`, naming them, with nothing stored. The flow's id names the queue
/// of its first task, which keeps the flow's record.
#[utoipa::path(
    post,
    path = "/v1/flows",
    security(("bearer" = ["producer", "admin"])),
    tag = "flows",
    request_body(content = FlowRequest, example = json!(crate::model::examples::flow_request())),
    responses(
        (status = 201, description = "Every task is stored; those with nothing to wait for are ready", body = Flow,
            headers(("Location" = String, description = "The flow's URL"))),
        FlowSubmitErrors,
    )
)]
pub async fn submit_flow(
    _caller: Caller,
    State(flows): State<Flows>,
    State(limits): State<BodyLimits>,
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
    match flows.submit(tasks).await? {
        FlowOutcome::Created(flow) => {
            let location = format!("/v1/flows/{}", flow.id);
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(flow),
            )
                .into_response())
        }
        FlowOutcome::Refused { at, outcome } => {
            let (queue, size) = &sizes[at];
            match submitted(queue, *size, outcome) {
                Err(ApiError::Validation(errors)) => Err(ApiError::Validation(
                    errors
                        .into_iter()
                        .map(|e| FieldError::new(format!("tasks[{at}].{}", e.field), e.message))
                        .collect(),
                )),
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
