//! Submitting a task, for producers, safe to repeat with an idempotency key (a batch of them is
//! `batch.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::debounce::{Debounce, NOT_WITH_IDEMPOTENCY_KEY, debounce_rules};
use super::depends::{DependsOn, dependency_rules, parents};
use crate::http::extract::auth::Caller;
use crate::http::extract::body::field::{
    AnyText, DelayMs, Group, Int, JsonText, LeaseMs, MaxAttempts, Priority, StartWithinMs, Time,
};
use crate::http::extract::body::{Body, Check, Problems, check_size};
use crate::http::extract::{Durability, QueueParams, QueuePath, single_header};
use crate::http::problem::ApiError;
use crate::http::responses::SubmitErrors;
use crate::http::responses::replayed;
use crate::http::state::BodyLimits;
use crate::model::{OnDependencyFailure, QueueName, Requires, Task};
use crate::store::tasks::Tasks;
use crate::store::tasks::{Idempotency, NewTask, Start, SubmitOutcome};

/// Longest idempotency key, in characters.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;
/// The header a producer names a submit with, to repeat it safely.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Body of a submit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = crate::model::examples::submit_request)]
pub struct SubmitTaskRequest {
    /// Any JSON value (`null` included), stored and returned exactly as sent (key order, number
    /// precision and all); at most the policy's `max_payload_bytes` of JSON text, and at most
    /// 64 levels of arrays and objects deep (the server's `TASKGATE_MAX_JSON_DEPTH`).
    #[schema(inline)]
    pub(crate) payload: JsonText,
    /// -1000 to 1000, default 0. Higher is leased first; FIFO among equals.
    #[schema(inline, default = 0)]
    pub(crate) priority: Option<Priority>,
    /// Wait this long (0 to 31536000000 ms) before the task is ready. Not with `run_at`.
    #[schema(inline)]
    pub(crate) delay_ms: Option<DelayMs>,
    /// RFC 3339 time at which the task becomes ready; a past time means now. Not with `delay_ms`.
    #[schema(inline)]
    pub(crate) run_at: Option<Time>,
    /// Attempts allowed for this task (1 to 1000); default the queue policy's at each failure.
    #[schema(inline)]
    pub(crate) max_attempts: Option<MaxAttempts>,
    /// Lease length for this task (1000 to 86400000 ms) when the worker asks for none.
    #[schema(inline)]
    pub(crate) lease_ms: Option<LeaseMs>,
    /// The task's group (a tenant, customer, account or resource): 1 to 128 characters of
    /// `A-Z a-z 0-9 . _ : @ -`. The queue's strategy and group limits work by it; it cannot change.
    #[schema(inline)]
    pub(crate) group: Option<Group>,
    /// Start deadline (1 to 31536000000 ms): a task not leased within this long of becoming
    /// ready (each time it does: on submit, or when a retry or delay is due) is not run; it goes
    /// to `dead` with an `expired` entry in its history. Default the policy's `start_ttl_ms`.
    #[schema(inline)]
    pub(crate) start_within_ms: Option<StartWithinMs>,
    /// Labels a worker must have to lease this task (at most 8; names 1-64 characters of
    /// `A-Z a-z 0-9 . _ / -`, values 1-128 of `A-Z a-z 0-9 . _ : @ / -`): only a worker whose
    /// lease call's `labels` include every one, with the same value, gets it. A queue's live
    /// tasks may carry at most 64 distinct sets of requirements. In a group, the group's tasks
    /// keep its order: a worker that cannot take the group's next task passes the group by.
    pub(crate) requires: Option<Requires>,
    /// Debounce: while the task of this `key` still waits for its run time, this submit
    /// updates that task (payload and the other fields) and moves its run time to `delay_ms`
    /// from now, never past `max_delay_ms` after the key's first submit; the answer is `200`
    /// with that task and `debounced: true`. Once it is ready, the next submit starts a new
    /// task. Not with `delay_ms`, `run_at` or an `Idempotency-Key`.
    pub(crate) debounce: Option<Debounce>,
    /// Tasks (1 to 100, in any queue) that must finish before this one runs: it is `waiting`
    /// until every one has, then `ready` (or `scheduled`, until its `run_at` or `delay_ms`
    /// counted from the submit). An unknown one is `422` and nothing is stored. Its lease
    /// carries each parent's outcome and result (`dependencies`). Not with `debounce`.
    #[schema(inline)]
    pub(crate) depends_on: Option<DependsOn>,
    /// What it does if a parent ends `dead` or `cancelled` (or is gone): `dead` (the default)
    /// or `cancel` at once, or `run` once every parent has finished. Only with `depends_on`.
    pub(crate) on_dependency_failure: Option<OnDependencyFailure>,
}

impl Check for SubmitTaskRequest {
    const DEEP: &'static [&'static str] = &["payload"];

    fn check(&self, _limits: &BodyLimits, problems: &mut Problems) {
        one_start(self.delay_ms.is_some(), self.run_at.is_some(), problems);
        let start = self.delay_ms.is_some() || self.run_at.is_some();
        debounce_rules(self.debounce.as_ref(), start, false, problems);
        dependency_rules(
            self.depends_on.as_ref(),
            self.on_dependency_failure,
            self.debounce.is_some(),
            problems,
        );
    }
}

/// A task starts after `delay_ms` or at `run_at`, not both (for a submit and a batch item).
pub(crate) fn one_start(delay_ms: bool, run_at: bool, problems: &mut Problems) {
    if delay_ms && run_at {
        problems.fail("run_at", "give delay_ms or run_at, not both");
    }
}

impl SubmitTaskRequest {
    /// The task this body asks for.
    pub(crate) fn into_task(self) -> NewTask {
        let start = match (self.delay_ms, self.run_at) {
            (Some(delay), _) => Start::AfterMs(delay.get()),
            (None, Some(at)) => Start::AtMs(at.0),
            (None, None) => Start::Now,
        };
        NewTask {
            payload: self.payload.0,
            priority: self.priority.map_or(0, Int::get),
            start,
            max_attempts: self.max_attempts.map(Int::get),
            lease_ms: self.lease_ms.map(Int::get),
            group: self.group.map(|g| g.0),
            start_within_ms: self.start_within_ms.map(Int::get),
            requires: self
                .requires
                .filter(|r| !r.is_empty())
                .map(|r| r.canonical()),
            debounce: self.debounce.map(Debounce::spec),
            depends_on: parents(self.depends_on),
            on_dependency_failure: self.on_dependency_failure.unwrap_or_default(),
            flow: None,
            idempotency: None,
        }
    }
}

/// An idempotency key in a body: 1 to 255 printable ASCII characters, as the header allows.
pub struct IdempotencyKey(pub(super) String);

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = AnyText::deserialize(d)?.0;
        match key_problem(&key) {
            Some(problem) => Err(serde::de::Error::custom(problem)),
            None => Ok(Self(key)),
        }
    }
}

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(IDEMPOTENCY_KEY_MAX))
            .pattern(Some("^[\\x20-\\x7e]+$"))
            .into()
    }
}

impl ToSchema for IdempotencyKey {}

/// A key's problem, if it is not 1 to 255 printable ASCII characters.
fn key_problem(key: &str) -> Option<String> {
    let printable = key.bytes().all(|b| (0x20..0x7f).contains(&b));
    (key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || !printable)
        .then(|| format!("must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"))
}

/// The request's `Idempotency-Key` header, checked, if it has one.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = single_header(headers, IDEMPOTENCY_KEY, "Idempotency-Key")? else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("\u{7f}").to_owned();
    match key_problem(&key) {
        Some(problem) => Err(ApiError::field("Idempotency-Key", problem)),
        None => Ok(Some(key)),
    }
}

/// SHA-256 of `text`, in hex: the fingerprint of a request an idempotency key is kept with.
pub(crate) fn fingerprint(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Attaches an idempotency key to a task, with a fingerprint of everything the task asks for,
/// so a repeat is recognized and the same key on a different request is not.
pub(super) fn with_key(mut task: NewTask, key: String) -> NewTask {
    let mut digest = Sha256::new();
    digest.update(task.payload.get());
    digest.update(format!(
        "\0{}\0{:?}\0{:?}\0{:?}",
        task.priority, task.start, task.max_attempts, task.lease_ms
    ));
    // Added only when there is one, so a task without a group keeps the fingerprint it had
    // before groups existed (a repeat across an upgrade is still a repeat).
    if let Some(group) = &task.group {
        digest.update(format!("\0group={}", group.as_str()));
    }
    if let Some(ms) = task.start_within_ms {
        digest.update(format!("\0start_within_ms={ms}"));
    }
    if let Some(requires) = &task.requires {
        digest.update(format!("\0requires={requires}"));
    }
    if let Some(parents) = &task.depends_on {
        for parent in parents {
            digest.update(format!("\0depends_on={}/{}", parent.queue, parent.id));
        }
        digest.update(format!(
            "\0on_dependency_failure={:?}",
            task.on_dependency_failure
        ));
    }
    let fingerprint = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    task.idempotency = Some(Idempotency { key, fingerprint });
    task
}

/// What became of a submit that was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Created,
    /// A repeat of an earlier submit with the same idempotency key.
    Replayed,
    /// Its debounce key's task took it.
    Debounced,
}

/// What a submit's outcome means over HTTP: the task and what became of the submit, or the
/// problem.
pub(crate) fn submitted(
    queue: &QueueName,
    size: usize,
    outcome: SubmitOutcome,
) -> Result<(Task, Fate), ApiError> {
    match outcome {
        SubmitOutcome::Created(task) => Ok((*task, Fate::Created)),
        SubmitOutcome::Replayed(task) => Ok((*task, Fate::Replayed)),
        SubmitOutcome::Debounced(task) => Ok((*task, Fate::Debounced)),
        SubmitOutcome::TooLarge { limit } => Err(ApiError::PayloadTooLarge(format!(
            "payload is {size} bytes of JSON; queue {queue} accepts at most {limit} (its \
             policy's max_payload_bytes)"
        ))),
        SubmitOutcome::KeyReused { first } => Err(ApiError::field(
            "Idempotency-Key",
            format!(
                "was used within the queue's dedup window for a different request (task \
                 {first}); use a new key for a new task"
            ),
        )),
        SubmitOutcome::KeyGone { first } => Err(ApiError::Conflict(format!(
            "this Idempotency-Key was used for task {first}, which has since been removed; \
             the key still prevents a second task until its dedup window ends"
        ))),
        SubmitOutcome::UnknownDependencies(unknown) => Err(ApiError::field(
            "depends_on",
            format!(
                "names tasks that do not exist (never submitted, or already purged): {}; \
                 nothing was stored",
                unknown
                    .iter()
                    .map(|parent| format!("{} in queue {}", parent.id, parent.queue))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        SubmitOutcome::RequirementSetsFull { limit } => Err(ApiError::field(
            "requires",
            format!(
                "queue {queue} already has {limit} distinct requirement sets among its live \
                 tasks, the most a queue may have: use one of them, or wait until the tasks \
                 of one have all finished"
            ),
        )),
    }
}

/// Submit a task
///
/// Adds a task to the queue. It is ready at once, or at `run_at` / after `delay_ms`. The `201`
/// means the task is stored in Redis: it will not be lost. With an `Idempotency-Key`, a repeat
/// within the queue's `dedup_window_ms` creates nothing and answers `200` with the first task
/// (`Idempotent-Replayed: true`), so a producer can retry after a timeout or a `5xx` without
/// making duplicates; the same key with a different body is `422`. With a `debounce` key whose
/// task still waits for its run time, that task takes the submit's fields and a new run time:
/// `200` with it and `debounced: true`.
#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/tasks",
    security(("bearer" = ["producer", "admin"])),
    tag = "tasks",
    params(
        QueueParams,
        ("Idempotency-Key" = Option<String>, Header,
            description = "Your name for this submit (1 to 255 printable characters): a repeat within the queue's dedup window returns the first task"),
        ("Taskgate-Durability" = Option<String>, Header,
            description = "`replicated`: answer only once the task is also on the configured number of Redis replicas (`WAIT`); `503` if they do not confirm in time")
    ),
    request_body(
        content = SubmitTaskRequest,
        example = json!(crate::model::examples::submit_request())
    ),
    responses(
        (status = 201, description = "The task was stored", body = Task,
            headers(
                ("Location" = String, description = "Path of the new task"),
                ("Taskgate-Replicas" = u32, description = "With `Taskgate-Durability: replicated`: how many replicas confirmed")
            )),
        (status = 200, description = "A repeat of an earlier submit with the same Idempotency-Key: the first task, as it is now (with `Idempotent-Replayed: true`); or the task of the submit's `debounce` key, which took this submit (`debounced: true`, no `Idempotent-Replayed`)", body = Task,
            headers(
                ("Location" = String, description = "Path of the task"),
                ("Idempotent-Replayed" = String, description = "`true` for a repeat of an Idempotency-Key")
            )),
        SubmitErrors,
    )
)]
pub async fn submit_task(
    _caller: Caller,
    State(tasks): State<Tasks>,
    State(limits): State<BodyLimits>,
    QueuePath(queue): QueuePath,
    headers: HeaderMap,
    durability: Durability,
    Body(body): Body<SubmitTaskRequest>,
) -> Result<Response, ApiError> {
    let task = body.into_task();
    check_size("payload", &task.payload, limits.max_payload_bytes)?;
    let task = match idempotency_key(&headers)? {
        None => task,
        Some(_) if task.debounce.is_some() => {
            return Err(ApiError::field("debounce", NOT_WITH_IDEMPOTENCY_KEY));
        }
        Some(key) => with_key(task, key),
    };
    let size = task.payload.get().len();
    let (outcome, confirmed) = tasks.submit_replicated(&queue, task, durability.0).await?;
    let (task, fate) = submitted(&queue, size, outcome)?;
    let replicas = durability.check(confirmed, &format!("task {}", task.id))?;
    let location = format!("/v1/queues/{}/tasks/{}", task.queue, task.id);
    let location = HeaderValue::try_from(location)
        .map_err(|e| ApiError::Internal(format!("location header: {e}")))?;
    let reply = ([(header::LOCATION, location)], replicas, Json(task));
    Ok(match fate {
        Fate::Created => (StatusCode::CREATED, reply).into_response(),
        Fate::Replayed => replayed(reply),
        Fate::Debounced => (StatusCode::OK, reply).into_response(),
    })
}
