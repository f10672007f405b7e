//! The API's resources, one file (or folder) each: their handlers (whose doc comments and
//! annotations are the OpenAPI operations) and their request bodies. `routes()` is the single
//! list of operations; the served router and the OpenAPI document both come from it
//! (`http::openapi::router`, given them by the crate root), so they cannot drift apart. What every resource shares (the
//! extractors, problem+json, the documented error sets) is the HTTP edge's, in `http/`.

mod events;
mod health;
mod metrics;
mod policy;
mod queues;
mod tasks;
mod work;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::state::AppState;

/// Every operation of the API, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tasks::submit::submit_task, tasks::list::list_tasks))
        .routes(routes!(tasks::submit::submit_tasks))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(events::get_task_events))
        .routes(routes!(work::lease::lease_tasks))
        .routes(routes!(work::lease::lease_tasks_across_queues))
        .routes(routes!(work::heartbeat_task))
        .routes(routes!(work::ack_task))
        .routes(routes!(work::fail_task))
        .routes(routes!(work::acks::ack_tasks))
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

#[cfg(test)]
mod tests {
    use utoipa::ToSchema;

    use super::policy::body as policy_body;
    use super::tasks::submit;
    use super::work::{acks, lease as leases};
    use super::{queues, work};
    use crate::http::extract::body::{Fields, RequestBody};

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
