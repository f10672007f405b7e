//! Leasing, for workers: from one queue, or from several at once (in order, or by weight).
//! What a worker does with a lease (heartbeat, ack, fail) is in `work.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::{AnyText, Int, LeaseMs, Text};
use crate::http::extract::body::list::{List, Queue};
use crate::http::extract::body::{Body, Check, Problems};
use crate::http::extract::{QueueParams, QueuePath};
use crate::http::limits::Slot;
use crate::http::problem::ApiError;
use crate::http::responses::replayed;
use crate::http::responses::{LeaseAcrossErrors, LeaseErrors};
use crate::http::state::BodyLimits;
use crate::http::state::Shutdown;
use crate::model::{Labels, Lease, MAX_TASKS_MAX, QueueName, REQUEST_ID_MAX, WORKER_NAME_MAX};
use crate::store::dispatch::{LeaseOutcome, LeaseRequest, Strategy};
use crate::store::waiting::Waiting;

/// Most queues one multi-queue lease call may name.
pub const QUEUES_PER_LEASE_MAX: usize = 20;
/// Longest a lease call may be asked to wait for work, in ms.
pub const LEASE_WAIT_MS_MAX: u32 = 30_000;

/// A checked lease call: what to lease, and how long to wait for it.
pub struct LeaseCall {
    request: LeaseRequest,
    wait: Duration,
}

/// Body of a lease call. `{}` leases one task with the policy's lease length.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::lease_request)]
pub struct LeaseTasksRequest {
    /// Your worker's name (1 to 128 printable characters), recorded on the tasks it leases.
    #[schema(inline)]
    worker: Option<WorkerName>,
    /// Most tasks to lease (1 to 100, default 1). Fewer come back when the tasks' data
    /// (payloads, results, error histories) adds up to more than 1 MiB: one call never moves
    /// more than that (plus one task) through Redis at once.
    #[schema(inline, default = 1)]
    max_tasks: Option<MaxTasks>,
    /// Lease length (1000 to 86400000 ms); default the task's own, else the queue policy's.
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    /// Your id for this call (1 to 128 printable characters), to retry it safely: repeating a
    /// lease call with the same `request_id` on the same queue, while its leases last, returns
    /// the leases it granted that are still live and leases nothing new (with
    /// `Idempotent-Replayed: true`). Use a fresh id for each new call.
    #[schema(inline)]
    request_id: Option<RequestId>,
    /// Wait up to this long (0 to 30000 ms) for something to lease: the answer comes as soon as
    /// a task is ready (submitted on any instance, retried, promoted...), or at the end of the
    /// wait with an empty list. Waiting holds no Redis connection.
    #[schema(inline, default = 0)]
    wait_ms: Option<WaitMs>,
    /// This worker's labels (at most 32; names 1-64 characters of `A-Z a-z 0-9 . _ / -`,
    /// values 1-128 of `A-Z a-z 0-9 . _ : @ / -`): it is given only tasks whose `requires`
    /// they include, and tasks without requirements. A long poll is woken only by tasks it can
    /// take. Shown in the workers view.
    labels: Option<Labels>,
}

impl Check for LeaseTasksRequest {}

type WorkerName = Text<1, WORKER_NAME_MAX>;
type MaxTasks = Int<1, { MAX_TASKS_MAX as i64 }>;
type RequestId = Text<1, REQUEST_ID_MAX>;
type WaitMs = Int<0, { LEASE_WAIT_MS_MAX as i64 }>;

/// The options every lease call has (everything but which queues).
fn lease_call(
    worker: Option<WorkerName>,
    max_tasks: Option<MaxTasks>,
    lease_ms: Option<LeaseMs>,
    request_id: Option<RequestId>,
    wait_ms: Option<WaitMs>,
    labels: Option<Labels>,
) -> LeaseCall {
    LeaseCall {
        request: LeaseRequest {
            worker: worker.map(|w| w.0),
            max_tasks: max_tasks.map_or(1, Int::get),
            lease_ms: lease_ms.map(Int::get),
            request_id: request_id.map(|r| r.0),
            labels: labels.filter(|l| !l.is_empty()).map(Arc::new),
        },
        wait: Duration::from_millis(wait_ms.map_or(0, Int::get)),
    }
}

impl From<LeaseTasksRequest> for LeaseCall {
    fn from(body: LeaseTasksRequest) -> Self {
        lease_call(
            body.worker,
            body.max_tasks,
            body.lease_ms,
            body.request_id,
            body.wait_ms,
            body.labels,
        )
    }
}

/// The leases granted; an empty list when nothing could be leased.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::model::examples::lease_list)]
pub struct LeaseList {
    leases: Vec<Lease>,
    /// When the list is empty because of a queue's `max_in_flight` or `rate_limit`: how long
    /// to wait before asking again (also sent as `Retry-After`, in whole seconds). `0` (and
    /// no `Retry-After`) when the call ended tasks past their start deadline, within its
    /// bounded work, before it found a live one: ask again at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

/// The answer to a lease call that began at `started` (its wait recorded in the metrics): the
/// list, `Idempotent-Replayed` on a repeat, `Retry-After` when nothing was granted for now.
fn lease_response(started: Instant, outcome: LeaseOutcome) -> Response {
    crate::metrics::lease_wait(!outcome.leases.is_empty(), started.elapsed());
    let retry_after_ms = outcome.retry_after_ms.filter(|_| outcome.leases.is_empty());
    let list = Json(LeaseList {
        leases: outcome.leases,
        retry_after_ms,
    });
    if outcome.replayed {
        return replayed(list);
    }
    let mut response = list.into_response();
    if let Some(ms) = retry_after_ms.filter(|&ms| ms > 0) {
        let seconds = ms.div_ceil(1000).max(1);
        if let Ok(value) = HeaderValue::try_from(seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Lease tasks
///
/// Leases up to `max_tasks` ready tasks, highest priority first and FIFO among equals; with
/// `wait_ms`, waits for work first (long polling). Each lease is yours until `expires_at`: heartbeat to keep it, then ack or fail with its
/// `lease_id`. A lease that runs out counts as a failed attempt and the task is delivered again.
/// Nothing to hand out is not an error: an empty, paused or limited queue answers `200` with
/// an empty list (with `retry_after_ms` and `Retry-After` when its `max_in_flight` or
/// `rate_limit` is the reason, or `retry_after_ms: 0` when the call's bounded work went to
/// ending tasks past their start deadline: ask again at once). To retry a call whose answer was lost (a timeout, a dropped
/// connection), send it again with the same `request_id`: you get its leases back instead of
/// new ones.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/leases",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    params(QueueParams),
    request_body(content = LeaseTasksRequest, example = json!(crate::model::examples::lease_request())),
    responses(
        (status = 200, description = "The leases granted (possibly none)", body = LeaseList,
            headers(
                ("Idempotent-Replayed" = String, description = "`true` when this repeats an earlier call with the same `request_id`"),
                ("Retry-After" = u64, description = "Seconds to wait, when a limit allowed nothing")
            )),
        LeaseErrors,
    )
)]
pub async fn lease_tasks(
    _caller: Caller,
    State(waiting): State<Waiting>,
    State(shutdown): State<Shutdown>,
    QueuePath(queue): QueuePath,
    slot: Slot,
    Body(body): Body<LeaseTasksRequest>,
) -> Result<Response, ApiError> {
    let call = LeaseCall::from(body);
    let started = Instant::now();
    let _waiting = slot.wait_for(call.wait)?;
    let outcome = waiting
        .lease_waiting(&queue, &call.request, call.wait, &shutdown.0)
        .await?;
    Ok(lease_response(started, outcome))
}

/// Body of a lease call across several queues.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::lease_across_request)]
pub struct LeaseAcrossRequest {
    /// The queues to lease from (1 to 20 names).
    #[schema(inline)]
    queues: List<Queue, 1, { QUEUES_PER_LEASE_MAX }>,
    /// `strict` (default): take from the queues in the order given, the first with work
    /// first. `weighted`: take turns among the queues with work, in proportion to their policy
    /// `weight` (smooth weighted round-robin), so a light queue is never starved. Paused and limited queues are
    /// skipped either way.
    #[schema(default = "strict")]
    strategy: Option<StrategyName>,
    /// Your worker's name (1 to 128 printable characters), recorded on the tasks it leases.
    #[schema(inline)]
    worker: Option<WorkerName>,
    /// Most tasks to lease in all (1 to 100, default 1).
    #[schema(inline, default = 1)]
    max_tasks: Option<MaxTasks>,
    /// Lease length (1000 to 86400000 ms); default the task's own, else its queue's policy's.
    #[schema(inline)]
    lease_ms: Option<LeaseMs>,
    /// Your id for this call, to retry it safely: a repeat returns the leases this call
    /// granted (from whichever queues) that are still live, and leases nothing new.
    #[schema(inline)]
    request_id: Option<RequestId>,
    /// Wait up to this long (0 to 30000 ms) for something to lease from any of the queues.
    #[schema(inline, default = 0)]
    wait_ms: Option<WaitMs>,
    /// This worker's labels, as for a single-queue lease: they apply on every queue listed.
    labels: Option<Labels>,
}

/// How a multi-queue lease picks its queues.
#[derive(ToSchema, Clone, Copy)]
#[schema(rename_all = "snake_case")]
pub enum StrategyName {
    Strict,
    Weighted,
}

impl<'de> Deserialize<'de> for StrategyName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match AnyText::deserialize(d)?.0.as_str() {
            "strict" => Ok(Self::Strict),
            "weighted" => Ok(Self::Weighted),
            _ => Err(serde::de::Error::custom("must be strict or weighted")),
        }
    }
}

impl Check for LeaseAcrossRequest {
    fn check(&self, _limits: &BodyLimits, problems: &mut Problems) {
        for (n, queue) in self.queues.0.iter().enumerate() {
            if self.queues.0[..n].contains(queue) {
                problems.fail(&format!("queues[{n}]"), "names a queue twice");
            }
        }
    }
}

/// A checked multi-queue lease call.
pub struct LeaseAcross {
    queues: Vec<QueueName>,
    strategy: Strategy,
    options: LeaseCall,
}

impl From<LeaseAcrossRequest> for LeaseAcross {
    fn from(body: LeaseAcrossRequest) -> Self {
        Self {
            queues: body.queues.0.into_iter().map(|queue| queue.0).collect(),
            strategy: match body.strategy {
                None | Some(StrategyName::Strict) => Strategy::Strict,
                Some(StrategyName::Weighted) => Strategy::Weighted,
            },
            options: lease_call(
                body.worker,
                body.max_tasks,
                body.lease_ms,
                body.request_id,
                body.wait_ms,
                body.labels,
            ),
        }
    }
}

/// Lease tasks from several queues
///
/// Leases up to `max_tasks` ready tasks from the listed queues, in order (`strict`) or by their
/// policy `weight` (`weighted`). Each queue's own policy applies to what is leased from it:
/// paused and limited queues are skipped. The answer is the same as a single-queue lease, and
/// the same `request_id` retry rule holds.
#[utoipa::path(
    post,
    path = "/v1/leases",
    security(("bearer" = ["worker", "admin"])),
    tag = "workers",
    request_body(content = LeaseAcrossRequest, example = json!(crate::model::examples::lease_across_request())),
    responses(
        (status = 200, description = "The leases granted (possibly none)", body = LeaseList,
            headers(
                ("Idempotent-Replayed" = String, description = "`true` when this repeats an earlier call with the same `request_id`"),
                ("Retry-After" = u64, description = "Seconds to wait, when limits allowed nothing")
            )),
        LeaseAcrossErrors,
    )
)]
pub async fn lease_tasks_across_queues(
    caller: Caller,
    State(waiting): State<Waiting>,
    State(shutdown): State<Shutdown>,
    slot: Slot,
    Body(body): Body<LeaseAcrossRequest>,
) -> Result<Response, ApiError> {
    let call = LeaseAcross::from(body);
    for queue in &call.queues {
        caller.check_queue(queue)?;
    }
    let started = Instant::now();
    let _waiting = slot.wait_for(call.options.wait)?;
    let outcome = waiting
        .lease_across_waiting(
            &call.queues,
            Some(call.strategy),
            &call.options.request,
            call.options.wait,
            &shutdown.0,
        )
        .await?;
    Ok(lease_response(started, outcome))
}
