//! The HTTP API: one file per resource, plus the extractors and OpenAPI error sets they share.
//!
//! `routes()` is the single list of operations; both the served router and the OpenAPI
//! document come from it, so they cannot drift apart.

mod body;
mod docs;
mod events;
mod extract;
mod health;
mod leases;
mod policy;
mod queues;
mod responses;
mod submit;
mod tasks;
mod work;

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use docs::routes as docs_routes;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Header set on a `200` that repeats an earlier, already applied call.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A `200` with `body` that repeats an earlier call, marked `Idempotent-Replayed: true`.
pub fn replayed(body: impl IntoResponse) -> Response {
    ([(REPLAYED, HeaderValue::from_static("true"))], body).into_response()
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Largest payload or result, in bytes of JSON text.
    pub max_payload_bytes: u64,
    /// Cancelled when the server begins to shut down: long-polls and event streams end at once.
    pub shutdown: CancellationToken,
}

/// Every operation of the API, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(submit::submit_task))
        .routes(routes!(submit::submit_tasks))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(events::get_task_events))
        .routes(routes!(leases::lease_tasks))
        .routes(routes!(leases::lease_tasks_across_queues))
        .routes(routes!(work::heartbeat_task))
        .routes(routes!(work::ack_task))
        .routes(routes!(work::fail_task))
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
}

#[cfg(test)]
mod tests {
    use utoipa::ToSchema;

    use super::body::{Fields, RequestBody};
    use super::{leases, policy, queues, submit, work};

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
        same_fields::<policy::PolicyRequest>();
        same_fields::<queues::RedriveRequest>();
    }
}
