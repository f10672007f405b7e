//! Submitting up to 1000 tasks in one call (`POST /v1/queues/{queue}/tasks:batch`), each on
//! its own terms: one bad task does not stop the others.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::debounce::{Debounce, debounce_rules};
use super::depends::{DependsOn, dependency_rules};
use super::submit::{Fate, IdempotencyKey, SubmitTaskRequest, one_start, submitted, with_key};
use crate::http::batch::{BatchItem, BatchResult, Items, sort_out};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::{
    DelayMs, Group, JsonText, LeaseMs, MaxAttempts, Priority, StartWithinMs, Time,
};
use crate::http::extract::body::{Body, Check, Problems, check_size};
use crate::http::extract::{Durability, QueueParams, QueuePath};
use crate::http::problem::ApiError;
use crate::http::responses::BatchErrors;
use crate::http::state::BodyLimits;
use crate::model::{OnDependencyFailure, Requires};
use crate::store::tasks::{NewTask, Tasks};

/// One task of a batch submit: a submit's body, plus its own idempotency key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchTaskRequest {
    /// Any JSON value, stored and returned exactly as sent; at most 64 levels of arrays and
    /// objects deep (the server's `TASKGATE_MAX_JSON_DEPTH`).
    #[schema(inline)]
    payload: JsonText,
    /// -1000 to 1000, default 0.
    #[schema(inline, default = 0)]
    priority: Option<Priority>,
    /// Wait this long (0 to 31536000000 ms) before the task is ready. Not with `run_at`.
    #[schema(inline)]
    delay_ms: Option<DelayMs>,
    /// RFC 3339 time at which the task becomes ready. Not with `delay_ms`.
    #[schema(inline)]
    run_at: Option<Time>,
    /// Attempts allowed for this task (1 to 1000).
    #[schema(inline)]
    max_attempts: Option<MaxAttempts>,
    /// Lease length for this task (1000 to 86400000 ms).
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    /// The task's group (1 to 128 characters of `A-Z a-z 0-9 . _ : @ -`).
    #[schema(inline)]
    group: Option<Group>,
    /// Start deadline (1 to 31536000000 ms), as for a single submit.
    #[schema(inline)]
    start_within_ms: Option<StartWithinMs>,
    /// Labels a worker must have to lease this task, as for a single submit.
    requires: Option<Requires>,
    /// Debounce, as for a single submit. Not with `delay_ms`, `run_at` or `idempotency_key`.
    debounce: Option<Debounce>,
    /// Tasks (1 to 100, any queue) that must finish first, as for a single submit.
    #[schema(inline)]
    depends_on: Option<DependsOn>,
    /// What it does if a parent fails, as for a single submit.
    on_dependency_failure: Option<OnDependencyFailure>,
    /// This task's own idempotency key (1 to 255 printable characters), as the
    /// `Idempotency-Key` header of a single submit.
    #[schema(inline)]
    idempotency_key: Option<IdempotencyKey>,
}

impl Check for BatchTaskRequest {
    const DEEP: &'static [&'static str] = &["payload"];

    fn check(&self, _limits: &BodyLimits, problems: &mut Problems) {
        one_start(self.delay_ms.is_some(), self.run_at.is_some(), problems);
        let start = self.delay_ms.is_some() || self.run_at.is_some();
        let keyed = self.idempotency_key.is_some();
        debounce_rules(self.debounce.as_ref(), start, keyed, problems);
        dependency_rules(
            self.depends_on.as_ref(),
            self.on_dependency_failure,
            self.debounce.is_some(),
            problems,
        );
    }
}

impl BatchItem for BatchTaskRequest {
    const PLURAL: &'static str = "tasks";
}

impl BatchTaskRequest {
    /// The task this item asks for, with its key.
    fn into_task(self) -> NewTask {
        let key = self.idempotency_key.map(|k| k.0);
        let task = SubmitTaskRequest {
            payload: self.payload,
            priority: self.priority,
            delay_ms: self.delay_ms,
            run_at: self.run_at,
            max_attempts: self.max_attempts,
            lease_ms: self.lease_ms,
            group: self.group,
            start_within_ms: self.start_within_ms,
            requires: self.requires,
            debounce: self.debounce,
            depends_on: self.depends_on,
            on_dependency_failure: self.on_dependency_failure,
        }
        .into_task();
        match key {
            Some(key) => with_key(task, key),
            None => task,
        }
    }
}

/// Body of a batch submit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::batch_request)]
pub struct BatchSubmitRequest {
    /// The tasks (1 to 1000), each submitted on its own terms.
    #[schema(inline)]
    tasks: Items<BatchTaskRequest>,
}

impl Check for BatchSubmitRequest {}

/// A batch submit's outcomes, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::batch_response)]
pub struct BatchSubmitResponse {
    pub results: Vec<BatchResult>,
}

/// Submit tasks in a batch
///
/// Submits up to 1000 tasks in one call, each on its own terms: one bad task does not stop the
/// others. The answer lists every task's outcome in request order (`201`, `200` for a replayed
/// `idempotency_key` or a `debounce` that updated its key's task, or a `4xx` with its
/// problem). The valid tasks are written together, in
/// bounded scripts sent at once. More than 1000 tasks, or a body over the server's limit,
/// fails the whole call and writes nothing. With `Taskgate-Durability: replicated`, a `503`
/// means the tasks are stored on the primary only: repeat the call with the same
/// `idempotency_key`s and get the same tasks back.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks:batch",
    security(("bearer" = ["producer", "admin"])),
    tag = "tasks",
    params(
        QueueParams,
        ("Taskgate-Durability" = Option<String>, Header,
            description = "`replicated`: answer only once every task the batch stored is also on the configured number of Redis replicas (`WAIT`); `503` if they do not confirm in time")
    ),
    request_body(content = BatchSubmitRequest, example = json!(crate::model::examples::batch_request())),
    responses(
        (status = 200, description = "Every task's outcome, in request order", body = BatchSubmitResponse,
            headers(
                ("Taskgate-Replicas" = u32, description = "With `Taskgate-Durability: replicated`: how many replicas confirmed")
            )),
        BatchErrors,
    )
)]
pub async fn submit_tasks(
    _caller: Caller,
    State(tasks): State<Tasks>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    durability: Durability,
    Body(batch): Body<BatchSubmitRequest>,
) -> Result<(HeaderMap, Json<BatchSubmitResponse>), ApiError> {
    let items = batch.tasks.read_each(&limits).into_iter().map(|item| {
        let task = item.map_err(ApiError::Validation)?.into_task();
        check_size("payload", &task.payload, limits.max_payload_bytes)?;
        Ok(task)
    });
    let (mut results, checked) = sort_out(items);
    let (sizes, valid): (Vec<_>, Vec<_>) = checked
        .into_iter()
        .map(|(index, task)| ((index, task.payload.get().len()), task))
        .unzip();
    let (outcomes, confirmed) = tasks.submit_batch(&queue, valid, durability.0).await?;
    let replicas = durability.check(confirmed, "every task of this batch")?;
    for ((index, size), outcome) in sizes.into_iter().zip(outcomes) {
        results[index] = Some(match submitted(&queue, size, outcome) {
            Ok((task, Fate::Created)) => BatchResult::done(index, 201, task, false),
            Ok((task, Fate::Replayed)) => BatchResult::done(index, 200, task, true),
            Ok((task, Fate::Debounced)) => BatchResult::done(index, 200, task, false),
            Err(problem) => BatchResult::refused(index, &problem),
        });
    }
    let results = results.into_iter().flatten().collect();
    Ok((replicas, Json(BatchSubmitResponse { results })))
}
