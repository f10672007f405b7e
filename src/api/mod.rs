//! The HTTP API: one file per resource, plus the extractors and OpenAPI error sets they share.
//!
//! `routes()` is the single list of operations; both the served router and the OpenAPI
//! document come from it, so they cannot drift apart.

mod acks;
pub mod auth;
mod batch;
mod body;
mod dashboard;
mod docs;
mod events;
mod extract;
mod health;
mod leases;
mod lists;
mod metrics;
mod policy;
mod policy_body;
mod queues;
mod responses;
mod submit;
mod tasks;
mod work;

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use body::MAX_JSON_DEPTH_DEFAULT;
pub use dashboard::routes as dashboard_routes;
pub use docs::routes as docs_routes;

use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::error::ApiError;
use crate::store::Services;

/// Header set on a `200` that repeats an earlier, already applied call.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A `200` with `body` that repeats an earlier call, marked `Idempotent-Replayed: true`.
pub fn replayed(body: impl IntoResponse) -> Response {
    ([(REPLAYED, HeaderValue::from_static("true"))], body).into_response()
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Services,
    /// Largest payload or result, in bytes of JSON text.
    pub max_payload_bytes: u64,
    /// Deepest nesting of arrays and objects a payload or result may have.
    pub max_json_depth: usize,
    /// Cancelled when the server begins to shut down: long-polls and event streams end at once.
    pub shutdown: CancellationToken,
    /// The API keys, and who may read `/metrics`.
    pub access: Arc<Access>,
    /// What `Taskgate-Durability: replicated` waits for.
    pub replication: crate::store::Replication,
    /// Longest a task's event stream stays open before it asks the client to reconnect.
    pub event_stream_max: std::time::Duration,
}

/// Every operation of the API, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(submit::submit_task, lists::list_tasks))
        .routes(routes!(submit::submit_tasks))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(events::get_task_events))
        .routes(routes!(leases::lease_tasks))
        .routes(routes!(leases::lease_tasks_across_queues))
        .routes(routes!(work::heartbeat_task))
        .routes(routes!(work::ack_task))
        .routes(routes!(work::fail_task))
        .routes(routes!(acks::ack_tasks))
        .routes(routes!(queues::list_queues))
        .routes(routes!(queues::get_queue, queues::delete_queue))
        .routes(routes!(
            policy::get_queue_policy,
            policy::put_queue_policy,
            policy::patch_queue_policy,
            policy::delete_queue_policy
        ))
        .routes(routes!(queues::list_dead_tasks, queues::purge_dead_tasks))
        .routes(routes!(queues::redrive_dead_tasks))
        .routes(routes!(health::get_health))
        .routes(routes!(health::get_readiness))
        .routes(routes!(metrics::get_metrics))
}

/// The served router and its OpenAPI document, completed with what every operation shares.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    complete(&mut document);
    (router, document)
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
        .filter_map(|r| r[auth::SCHEME].as_array())
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

#[cfg(test)]
mod tests {
    use utoipa::ToSchema;

    use super::body::{Fields, RequestBody};
    use super::{acks, leases, policy_body, queues, submit, work};

    /// The fields `T::read` accepts, in name order.
    fn read_fields<T: RequestBody>() -> Vec<String> {
        let mut fields = Fields::parse(b"{}").expect("empty object");
        T::read(&mut fields);
        let mut names: Vec<String> = fields.asked().iter().map(|n| n.to_string()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The properties `T`'s OpenAPI schema documents, in name order.
    fn documented_fields<T: ToSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).expect("schema as JSON");
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn same_fields<T: RequestBody + ToSchema>() {
        assert_eq!(
            read_fields::<T>(),
            documented_fields::<T>(),
            "{}",
            T::name()
        );
    }

    /// A field the server reads but the document does not show (or the other way round) would
    /// be refused as unknown, or silently missing from generated clients.
    #[test]
    fn every_request_body_reads_exactly_the_fields_its_schema_documents() {
        same_fields::<submit::SubmitTaskRequest>();
        same_fields::<submit::BatchTaskRequest>();
        same_fields::<submit::BatchSubmitRequest>();
        same_fields::<leases::LeaseTasksRequest>();
        same_fields::<leases::LeaseAcrossRequest>();
        same_fields::<work::HeartbeatTaskRequest>();
        same_fields::<work::AckTaskRequest>();
        same_fields::<work::FailTaskRequest>();
        same_fields::<acks::AckBatchRequest>();
        same_fields::<acks::AckItemRequest>();
        same_fields::<policy_body::PolicyRequest>();
        same_fields::<queues::RedriveRequest>();
    }
}
