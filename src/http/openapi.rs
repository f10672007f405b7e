//! The root of the OpenAPI document: info, tags and shared components. Operations and schemas
//! are added by `api::routes()` from the handlers' own annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::{ApiError, Problem};
use super::responses;
use super::state::{ApiRoutes, RouterState};
use crate::model::FieldError;
use utoipa::openapi::path::Operation;

const DESCRIPTION: &str = "\
HTTP/REST task dispatch in front of Redis. Producers submit tasks; workers in any language lease \
them, heartbeat while they work, and ack or fail them.

**Delivery is at-least-once.** A `2xx` on submit means the task is stored. A lease that runs \
out counts as a failed attempt and the task is delivered again, so work must be safe to repeat.

**Fencing.** Every worker call carries the `lease_id` it was given. If that lease is no longer \
the task's live lease (it expired, or the task was leased again or finished), the call gets \
`409` with problem type `lease-lost`: your work on the task was not recorded.

**Safe retries.** A lease that finished an attempt can repeat the same ack (or fail) at any \
time, even after the task was leased again: `200` with the task as it is now and \
`Idempotent-Replayed: true`, and nothing changes (a fail is remembered for the task's last 10 \
failed attempts). A lease call repeated with the same `request_id` returns the leases it \
granted that are still live and leases nothing new, so a lost reply never strands a task.

**Payloads are kept byte for byte:** `payload` and `result` come back as the exact JSON text \
sent.

**Bodies are strict.** A field an operation does not know, or a key given twice at any level \
the server reads, is `422 validation` naming it (inside a `payload` or `result` the JSON is \
yours and is kept as sent, repeated keys included). A `payload` or `result` may nest arrays \
and objects at most 64 levels deep (the server's `TASKGATE_MAX_JSON_DEPTH`), so every common \
JSON parser reads it back inside a lease; deeper is `422` naming the field. A header given \
twice (`Idempotency-Key`, `Taskgate-Durability`) is `422` naming it.

**Authentication.** Unless the server runs without keys (allowed on loopback only), send an \
API key as `Authorization: Bearer <key>` (Swagger UI: the Authorize button). A key has a role \
(`producer`: submit, read, cancel; `worker`: lease, heartbeat, ack, fail, read; `admin`: \
everything) and may be limited to queue-name prefixes. Each operation names the roles it \
accepts. No key or an unknown key gets `401 unauthorized`; a key without the right gets \
`403 forbidden`; both before anything else is done.

**Limits.** Request bodies, headers (`431 headers-too-large`) and time (`408`) are bounded. At \
its concurrency limit the server refuses new requests at once with `503 unavailable` and \
`Retry-After` rather than queueing them. A connection that sends no whole request head in time, \
or stays idle between requests too long, is closed; one past the connection limit gets `503` \
and is closed.

**Errors** are RFC 9457 `application/problem+json` documents with a stable `type`. Besides the \
responses listed per operation, any path can answer `404 not-found` (unknown route), \
`405 method-not-allowed` and `408 request-timeout`. Every response carries an `x-request-id` \
header (a client's own `x-request-id` is kept), to quote when reporting a problem.";

#[derive(OpenApi)]
#[openapi(
    info(title = "taskgate", description = DESCRIPTION),
    // Relative, so Swagger UI and generated clients call the server that served the document;
    // a client generated from the committed file takes its base URL as a parameter.
    servers((url = "/", description = "the taskgate that serves this document")),
    tags(
        (name = "tasks", description = "Submit and read tasks (producers)"),
        (name = "workers", description = "Lease tasks and report on them (workers)"),
        (name = "queues", description = "List, inspect and delete queues (operators)"),
        (name = "policy", description = "Each queue's dispatch policy (operators)"),
        (name = "groups", description = "Each queue's task groups and their own limits (operators)"),
        (name = "dead letters", description = "Tasks out of attempts: list, redrive, purge (operators)"),
        (name = "health", description = "Probes for orchestrators and load balancers, and metrics"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerKeys)
)]
pub struct ApiDoc;

/// The bearer security scheme that operations name with their roles.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API key from the server's configuration (`TASKGATE_API_KEYS` or \
                 `TASKGATE_API_KEYS_FILE`). The names in each operation's requirement are the \
                 key roles it accepts.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(super::extract::auth::SCHEME, SecurityScheme::Http(scheme));
    }
}

/// The served router and its OpenAPI document, completed with what every operation shares.
pub fn router(api: ApiRoutes) -> (axum::Router<RouterState>, utoipa::openapi::OpenApi) {
    let (router, mut document) =
        utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(api)
            .split_for_parts();
    complete(&mut document);
    (router, super::fold::fold(document))
}

/// Adds to every operation the answers any request can get (`408`, `431`), and to those that
/// need a key, `401`, `403` and a line naming the roles allowed.
fn complete(document: &mut utoipa::openapi::OpenApi) {
    let always = responses::problems(vec![
        ApiError::RequestTimeout,
        ApiError::HeadersTooLarge(
            "the request's headers are 20480 bytes; the limit is 16384".into(),
        ),
    ]);
    let keyed = responses::problems(vec![
        ApiError::Unauthorized(
            "this operation needs an API key, sent as `Authorization: Bearer <key>`".into(),
        ),
        ApiError::Forbidden(
            "the key \"web\" may use queues starting with billing., not queue emails".into(),
        ),
    ]);
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            let roles = required_roles(operation);
            let extra = always
                .iter()
                .chain(keyed.iter().filter(|_| !roles.is_empty()));
            for (status, response) in extra {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| response.clone());
            }
            if !roles.is_empty() {
                let note = format!(
                    "**Who may call:** a key with role {}{}.",
                    roles.join(" or "),
                    if operation_has_queue(operation) {
                        ", limited to this queue's name if the key is limited to queue prefixes"
                    } else {
                        ""
                    }
                );
                let description = operation.description.take().unwrap_or_default();
                operation.description = Some(if description.is_empty() {
                    note
                } else {
                    format!("{description}\n\n{note}")
                });
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The roles the operation's bearer requirement lists (none for an open operation).
fn required_roles(operation: &Operation) -> Vec<String> {
    let security = serde_json::to_value(&operation.security).unwrap_or_default();
    security
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r[super::extract::auth::SCHEME].as_array())
        .flatten()
        .filter_map(|r| r.as_str().map(|r| format!("`{r}`")))
        .collect()
}

fn operation_has_queue(operation: &Operation) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.name == "queue"))
}
