//! Prometheus metrics: every metric name is here, with the one function that records it, so
//! the README's list and the code cannot disagree. Recording goes through the `metrics` crate
//! facade and is cheap (atomic adds); `render` produces the exposition text for `/metrics`.
//!
//! Labels carry route templates and queue names, never task ids, so the number of series grows
//! with the API and with the queues, not with traffic.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS: &str = "taskgate_http_requests_total";
/// Time to answer a request, by `method` and `route`.
pub const HTTP_DURATION: &str = "taskgate_http_request_duration_seconds";
/// Requests refused at once because the server was at its limit, by `class` (`short`, `waiting`).
pub const HTTP_SHED: &str = "taskgate_http_requests_shed_total";
/// Requests being handled now, by `class`.
pub const HTTP_IN_FLIGHT: &str = "taskgate_http_requests_in_flight";
/// Task state changes, by `queue` and `transition` (`submitted`, `leased`, `completed`,
/// `retried`, `dead`, `cancelled`, `expired`, `redriven`, `purged`).
pub const TASK_TRANSITIONS: &str = "taskgate_task_transitions_total";
/// How long a lease call waited before it was answered, by `outcome` (`leased`, `empty`).
pub const LEASE_WAIT: &str = "taskgate_lease_wait_seconds";
/// Tasks in each state, by `queue` and `state`, as the reaper last saw them.
pub const QUEUE_TASKS: &str = "taskgate_queue_tasks";
/// Time of one Redis call (a script or a command), by `op`.
pub const REDIS_DURATION: &str = "taskgate_redis_command_duration_seconds";
/// Redis calls that failed, by `kind` (`unavailable`, `error`, `corrupt`).
pub const REDIS_ERRORS: &str = "taskgate_redis_errors_total";
/// Redis connections open in the pool.
pub const POOL_CONNECTIONS: &str = "taskgate_redis_pool_connections";
/// Redis calls in flight on the pool's shared connections.
pub const POOL_IN_USE: &str = "taskgate_redis_pool_in_use";
/// Time a call waited for a pooled connection (long only when one had to be opened).
pub const POOL_WAIT: &str = "taskgate_redis_pool_wait_seconds";
/// Time of one reaper tick over its share of the queues.
pub const REAPER_SWEEP: &str = "taskgate_reaper_sweep_duration_seconds";
/// Queue sweeps that failed (the log names the queue).
pub const REAPER_FAILURES: &str = "taskgate_reaper_queue_failures_total";

/// Every family above, for the README and the test that checks `/metrics` shows them.
pub const FAMILIES: [&str; 14] = [
    HTTP_REQUESTS,
    HTTP_DURATION,
    HTTP_SHED,
    HTTP_IN_FLIGHT,
    TASK_TRANSITIONS,
    LEASE_WAIT,
    QUEUE_TASKS,
    REDIS_DURATION,
    REDIS_ERRORS,
    POOL_CONNECTIONS,
    POOL_IN_USE,
    POOL_WAIT,
    REAPER_SWEEP,
    REAPER_FAILURES,
];

/// Histogram buckets for request and Redis latencies, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets for waits, which may last up to the longest long-poll.
const WAIT_BUCKETS: [f64; 11] = [0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// The process-wide recorder, installed on first use. Every app in the process (tests run
/// several) shares it, as they share the process.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LEASE_WAIT.into()), &WAIT_BUCKETS))
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a host program of ours as a library):
        // then ours still renders what it was given, which is nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        // Series that only count trouble exist from the start at 0, so a dashboard (or an
        // alert on their rate) sees them before the first incident.
        for class in ["short", "waiting"] {
            counter!(HTTP_SHED, "class" => class).absolute(0);
            gauge!(HTTP_IN_FLIGHT, "class" => class).set(0.0);
        }
        for kind in ["unavailable", "error", "corrupt"] {
            counter!(REDIS_ERRORS, "kind" => kind).absolute(0);
        }
        counter!(REAPER_FAILURES).absolute(0);
        handle
    })
}

/// Installs the recorder. Call once at start-up, before anything is recorded.
pub fn install() {
    handle();
}

/// The exposition text, in Prometheus format.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

fn describe() {
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
    describe_counter!(
        TASK_TRANSITIONS,
        "Task state changes, by queue and transition"
    );
    describe_histogram!(LEASE_WAIT, Unit::Seconds, "How long lease calls waited");
    describe_gauge!(
        QUEUE_TASKS,
        "Tasks per queue and state, as last sampled by the reaper"
    );
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
    describe_histogram!(REAPER_SWEEP, Unit::Seconds, "Time of one reaper tick");
    describe_counter!(REAPER_FAILURES, "Queue sweeps that failed");
}

pub fn request(method: &str, route: &str, status: u16, took: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(took.as_secs_f64());
}

pub fn shed(class: &'static str) {
    counter!(HTTP_SHED, "class" => class).increment(1);
}

pub fn in_flight(class: &'static str, change: f64) {
    gauge!(HTTP_IN_FLIGHT, "class" => class).increment(change);
}

/// `n` tasks of `queue` went through `transition`.
pub fn transition(queue: &str, transition: &'static str, n: u64) {
    if n > 0 {
        counter!(TASK_TRANSITIONS, "queue" => queue.to_owned(), "transition" => transition)
            .increment(n);
    }
}

pub fn lease_wait(leased: bool, waited: Duration) {
    let outcome = if leased { "leased" } else { "empty" };
    histogram!(LEASE_WAIT, "outcome" => outcome).record(waited.as_secs_f64());
}

pub fn queue_tasks(queue: &str, state: &'static str, count: u64) {
    gauge!(QUEUE_TASKS, "queue" => queue.to_owned(), "state" => state).set(count as f64);
}

pub fn redis_call(op: &'static str, took: Duration, error: Option<&'static str>) {
    histogram!(REDIS_DURATION, "op" => op).record(took.as_secs_f64());
    if let Some(kind) = error {
        counter!(REDIS_ERRORS, "kind" => kind).increment(1);
    }
}

pub fn pool(connections: usize, in_use: i64) {
    gauge!(POOL_CONNECTIONS).set(connections as f64);
    gauge!(POOL_IN_USE).set(in_use as f64);
}

pub fn pool_wait(took: Duration) {
    histogram!(POOL_WAIT).record(took.as_secs_f64());
}

pub fn reaper_sweep(took: Duration) {
    histogram!(REAPER_SWEEP).record(took.as_secs_f64());
}

pub fn reaper_failure() {
    counter!(REAPER_FAILURES).increment(1);
}
