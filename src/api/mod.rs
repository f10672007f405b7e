//! The API's resources, one file (or folder) each: their handlers (whose doc comments and
//! annotations are the OpenAPI operations) and their request bodies. `routes()` is the single
//! list of operations; the served router and the OpenAPI document both come from it
//! (`http::openapi::router`, given them by the crate root), so they cannot drift apart. What every resource shares (the
//! extractors, problem+json, the documented error sets) is the HTTP edge's, in `http/`.

mod events;
mod flows;
mod groups;
mod health;
mod metrics;
mod policy;
mod queues;
mod schedules;
mod tasks;
mod work;
mod workers;

use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::http::state::RouterState;

/// Every operation of the API, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<RouterState> {
    OpenApiRouter::new()
        .routes(routes!(tasks::submit::submit_task, tasks::list::list_tasks))
        .routes(routes!(tasks::batch::submit_tasks))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(tasks::explain_task))
        .routes(routes!(events::get_task_events))
        .routes(routes!(work::lease::lease_tasks))
        .routes(routes!(work::lease::lease_tasks_across_queues))
        .routes(routes!(work::heartbeat_task))
        .routes(routes!(work::ack_task))
        .routes(routes!(work::fail_task))
        .routes(routes!(work::acks::ack_tasks))
        .routes(routes!(queues::list_queues))
        .routes(routes!(queues::get_queue, queues::delete_queue))
        .routes(routes!(queues::get_queue_history))
        .routes(routes!(workers::list_queue_workers))
        .routes(routes!(workers::list_workers))
        .routes(routes!(groups::list_groups))
        .routes(routes!(
            groups::get_group,
            groups::put_group,
            groups::patch_group,
            groups::delete_group
        ))
        .routes(routes!(
            policy::get_queue_policy,
            policy::put_queue_policy,
            policy::patch_queue_policy,
            policy::delete_queue_policy
        ))
        .routes(routes!(schedules::list_schedules))
        .routes(routes!(
            schedules::get_schedule,
            schedules::put_schedule,
            schedules::patch_schedule,
            schedules::delete_schedule
        ))
        .merge(verb_route(routes!(schedules::trigger_schedule)))
        .routes(routes!(flows::submit_flow))
        .routes(routes!(flows::get_flow, flows::cancel_flow))
        .routes(routes!(flows::events::get_flow_events))
        .routes(routes!(queues::list_dead_tasks, queues::purge_dead_tasks))
        .routes(routes!(queues::redrive_dead_tasks))
        .routes(routes!(health::get_health))
        .routes(routes!(health::get_readiness))
        .routes(routes!(metrics::get_metrics))
}

/// An operation whose documented path ends in a verb after a parameter
/// (`…/schedules/{name}:trigger`): the router cannot match a parameter followed by text in one
/// segment, so it is served on the path without the verb (`…/schedules/{name}`, whose handler's
/// extractor checks the verb is there) and documented with it. Auth rules follow the served
/// path (`Rules::from_document` reads the verb off).
fn verb_route(
    (schemas, paths, method_router): UtoipaMethodRouter<RouterState>,
) -> OpenApiRouter<RouterState> {
    let mut router = OpenApiRouter::new();
    for (documented, item) in paths.paths {
        let served = crate::http::extract::auth::served_path(&documented);
        router = router.route(&served, method_router.clone());
        router
            .get_openapi_mut()
            .paths
            .paths
            .insert(documented, item);
    }
    router
        .get_openapi_mut()
        .components
        .get_or_insert_with(utoipa::openapi::Components::new)
        .schemas
        .extend(schemas);
    router
}
