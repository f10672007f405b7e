//! Every metric family's name, what it counts, and its description for `/metrics` (`# HELP`):
//! the one list the README's metrics table and the recording functions (`mod.rs`) go by.

/// Requests answered, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS: &str = "taskgate_http_requests_total";
/// Time to answer a request, by `method` and `route`.
pub const HTTP_DURATION: &str = "taskgate_http_request_duration_seconds";
/// Requests refused at once because the server was at its limit, by `class` (`short`, `waiting`).
pub const HTTP_SHED: &str = "taskgate_http_requests_shed_total";
/// Requests being handled now, by `class`.
pub const HTTP_IN_FLIGHT: &str = "taskgate_http_requests_in_flight";
/// Task state changes, by `queue` and `transition` (`submitted`, `leased`, `completed`,
/// `retried`, `dead`, `cancelled`, `expired`, `redriven`, `purged`). Queues past the cap are
/// summed under `queue="(other)"`.
pub const TASK_TRANSITIONS: &str = "taskgate_task_transitions_total";
/// How long a lease call waited before it was answered, by `outcome` (`leased`, `empty`).
pub const LEASE_WAIT: &str = "taskgate_lease_wait_seconds";
/// Tasks in each state, by `queue` and `state`, as the reaper last saw them (queues past the
/// cap summed under `queue="(other)"`).
pub const QUEUE_TASKS: &str = "taskgate_queue_tasks";
/// Task groups with ready tasks, by `queue` and `state` (`ready`: all of them, `held`: those a
/// limit holds), as the reaper last saw them. Never labelled by group: group names are
/// unbounded.
pub const QUEUE_GROUPS: &str = "taskgate_queue_groups";
/// Time of one Redis call (a script or a command), by `op`.
pub const REDIS_DURATION: &str = "taskgate_redis_command_duration_seconds";
/// Redis calls that failed, by `kind` (`unavailable`, `error`, `corrupt`, `overloaded`: no
/// connection for a replicated write was free).
pub const REDIS_ERRORS: &str = "taskgate_redis_errors_total";
/// Redis connections open in the pool.
pub const POOL_CONNECTIONS: &str = "taskgate_redis_pool_connections";
/// Redis calls in flight on the pool's shared connections.
pub const POOL_IN_USE: &str = "taskgate_redis_pool_in_use";
/// Time a call waited for a pooled connection (long only when one had to be opened).
pub const POOL_WAIT: &str = "taskgate_redis_pool_wait_seconds";
/// Calls waiting for the script call of their lane (script and queue) on its way to Redis, to
/// travel together in the next one (`store/lanes.rs`).
pub const CALLS_WAITING: &str = "taskgate_redis_calls_waiting";
/// Schedule runs, by `outcome`: `fired` (a tick's task submitted), `triggered` (a trigger's),
/// `missed` (ticks that came and went while no instance or no Redis was up, skipped or caught
/// up by one run, see `catch_up`), `failed` (the submit was refused: the payload over the
/// queue's cap, say). Not labelled by queue or schedule: their tasks are counted by queue as
/// `submitted` transitions.
pub const SCHEDULE_RUNS: &str = "taskgate_schedule_runs_total";
/// Finished tasks' outcomes delivered to every task that waits for them (`store/deps`), by
/// who delivered them: the instance that finished the task, or the sweep (it was killed, or
/// the delivery failed).
pub const DEPENDENCY_DELIVERIES: &str = "taskgate_dependency_deliveries_total";
/// Flows submitted, by outcome: committed, refused (a task refused by its queue), failed (an
/// error, or the commit window passed; none of it runs).
pub const FLOWS: &str = "taskgate_flows_total";
/// Script calls that carried calls which had waited for one on its way (batches).
pub const BATCHES: &str = "taskgate_redis_batches_total";
/// Calls those batches carried: divided by `BATCHES`, the mean batch size.
pub const BATCHED_CALLS: &str = "taskgate_redis_batched_calls_total";
/// Time of one reaper tick over its share of the queues.
pub const REAPER_SWEEP: &str = "taskgate_reaper_sweep_duration_seconds";
/// Queue sweeps that failed (the log names the queue).
pub const REAPER_FAILURES: &str = "taskgate_reaper_queue_failures_total";

/// Every family above, for the README and the test that checks `/metrics` shows them.
pub const FAMILIES: [&str; 20] = [
    HTTP_REQUESTS,
    HTTP_DURATION,
    HTTP_SHED,
    HTTP_IN_FLIGHT,
    TASK_TRANSITIONS,
    LEASE_WAIT,
    QUEUE_TASKS,
    QUEUE_GROUPS,
    REDIS_DURATION,
    REDIS_ERRORS,
    POOL_CONNECTIONS,
    POOL_IN_USE,
    POOL_WAIT,
    CALLS_WAITING,
    BATCHES,
    BATCHED_CALLS,
    REAPER_SWEEP,
    REAPER_FAILURES,
    DEPENDENCY_DELIVERIES,
    FLOWS,
];

pub(super) const TASK_TRANSITIONS_HELP: &str = "Task state changes, by queue and transition";
pub(super) const QUEUE_TASKS_HELP: &str =
    "Tasks per queue and state, as last sampled by the reaper";
pub(super) const QUEUE_GROUPS_HELP: &str =
    "Task groups with ready tasks per queue (state ready), and those a limit holds (held)";

pub(super) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by method, route and status"
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer a request");
    describe_counter!(
        HTTP_SHED,
        "Requests refused at once at the concurrency limit"
    );
    describe_gauge!(HTTP_IN_FLIGHT, "Requests being handled now");
    // TASK_TRANSITIONS, QUEUE_TASKS and QUEUE_GROUPS are rendered by `queues.rs`, with their
    // descriptions.
    describe_histogram!(LEASE_WAIT, Unit::Seconds, "How long lease calls waited");
    describe_histogram!(REDIS_DURATION, Unit::Seconds, "Time of one Redis call");
    describe_counter!(REDIS_ERRORS, "Redis calls that failed, by kind");
    describe_gauge!(POOL_CONNECTIONS, "Redis connections open");
    describe_gauge!(
        POOL_IN_USE,
        "Redis calls in flight on the shared connections"
    );
    describe_histogram!(
        POOL_WAIT,
        Unit::Seconds,
        "Time waiting for a pooled Redis connection"
    );
    describe_gauge!(
        CALLS_WAITING,
        "Calls waiting to travel to Redis with the next batch of their script and queue"
    );
    describe_counter!(BATCHES, "Script calls that carried calls which had waited");
    describe_counter!(BATCHED_CALLS, "Calls carried by those batches");
    describe_histogram!(REAPER_SWEEP, Unit::Seconds, "Time of one reaper tick");
    describe_counter!(REAPER_FAILURES, "Queue sweeps that failed");
    describe_counter!(SCHEDULE_RUNS, "Schedule runs, by outcome");
    describe_counter!(
        DEPENDENCY_DELIVERIES,
        "Finished tasks' outcomes delivered to the tasks that wait for them, by who delivered"
    );
    describe_counter!(FLOWS, "Flows submitted, by outcome");
}
