//! Prometheus metrics: every metric name is here, with the one function that records it, so
//! the README's list and the code cannot disagree. Recording goes through the `metrics` crate
//! facade and is cheap (atomic adds); `render` produces the exposition text for `/metrics`.
//!
//! Labels carry route templates and queue names, never task ids, so the number of series grows
//! with the API and with the queues, not with traffic. The series labelled by queue are kept
//! apart (`queues.rs`): they are dropped when their queue is deleted or idle, and capped.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::{GroupTally, StateCounts};

mod queues;

pub use queues::{DEFAULT_IDLE as DEFAULT_QUEUE_IDLE, DEFAULT_MAX as DEFAULT_MAX_QUEUES, OTHER};

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
        // then ours still renders what it was given, which is nothing but the per-queue
        // series (kept apart, in `queues.rs`).
        let _ = metrics::set_global_recorder(recorder);
        describe();
        // Series that only count trouble exist from the start at 0, so a dashboard (or an
        // alert on their rate) sees them before the first incident.
        for class in ["short", "waiting"] {
            counter!(HTTP_SHED, "class" => class).absolute(0);
            gauge!(HTTP_IN_FLIGHT, "class" => class).set(0.0);
        }
        for kind in ["unavailable", "error", "corrupt", "overloaded"] {
            counter!(REDIS_ERRORS, "kind" => kind).absolute(0);
        }
        counter!(REAPER_FAILURES).absolute(0);
        for outcome in SCHEDULE_OUTCOMES {
            counter!(SCHEDULE_RUNS, "outcome" => outcome).absolute(0);
        }
        for by in DELIVERERS {
            counter!(DEPENDENCY_DELIVERIES, "by" => by).absolute(0);
        }
        for outcome in FLOW_OUTCOMES {
            counter!(FLOWS, "outcome" => outcome).absolute(0);
        }
        counter!(BATCHES).absolute(0);
        counter!(BATCHED_CALLS).absolute(0);
        gauge!(CALLS_WAITING).set(0.0);
        handle
    })
}

/// Installs the recorder. Call once at start-up, before anything is recorded.
pub fn install() {
    handle();
}

/// Sets how many queues may have series of their own and after how long idle a queue's series
/// are dropped. Process-wide, as the recorder is.
pub fn limit_queue_series(max_queues: usize, idle: Duration) {
    queues::limit(max_queues, idle);
}

/// The exposition text, in Prometheus format.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    let mut text = handle.render();
    queues::render(
        &mut text,
        (TASK_TRANSITIONS, TASK_TRANSITIONS_HELP),
        (QUEUE_TASKS, QUEUE_TASKS_HELP),
        (QUEUE_GROUPS, QUEUE_GROUPS_HELP),
    );
    text
}

const TASK_TRANSITIONS_HELP: &str = "Task state changes, by queue and transition";
const QUEUE_TASKS_HELP: &str = "Tasks per queue and state, as last sampled by the reaper";
const QUEUE_GROUPS_HELP: &str =
    "Task groups with ready tasks per queue (state ready), and those a limit holds (held)";

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

/// Handles of labelled series, found again by borrowed labels: once a series exists, recording
/// to it allocates and formats nothing. (The `metrics` macros build, allocate and hash a
/// labelled key on every call, which showed in the hot path's profile.)
struct Handles<K, H>(LazyLock<RwLock<HashMap<K, H>>>);

impl<K: Hash + Eq, H: Clone> Handles<K, H> {
    const fn new() -> Self {
        Self(LazyLock::new(|| RwLock::new(HashMap::new())))
    }

    fn get<Q>(&self, key: &Q, make: impl FnOnce() -> (K, H)) -> H
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(found) = self.0.read().ok().and_then(|map| map.get(key).cloned()) {
            return found;
        }
        // Series are made against our recorder, never a no-op one.
        install();
        let (key, handles) = make();
        match self.0.write() {
            Ok(mut map) => map.entry(key).or_insert(handles).clone(),
            Err(_) => handles,
        }
    }
}

/// One route's series: the counters by (method, status) and the histogram by method.
type RouteSeries = Vec<(Method, u16, Counter, Histogram)>;

static HTTP: Handles<String, Arc<RwLock<RouteSeries>>> = Handles::new();
static REDIS: Handles<&'static str, Histogram> = Handles::new();
static UNLABELLED: Handles<&'static str, Histogram> = Handles::new();
static CLASSES: Handles<&'static str, (Gauge, Counter)> = Handles::new();

pub fn request(method: &Method, route: &str, status: u16, took: Duration) {
    let series = HTTP.get(route, || (route.to_owned(), Arc::default()));
    let known = series.read().ok().and_then(|s| {
        s.iter()
            .find(|(m, code, _, _)| m == method && *code == status)
            .map(|(_, _, requests, duration)| (requests.clone(), duration.clone()))
    });
    let (requests, duration) = known.unwrap_or_else(|| {
        let labels = [("method", method.to_string()), ("route", route.to_owned())];
        let requests = counter!(
            HTTP_REQUESTS,
            &[
                labels[0].clone(),
                labels[1].clone(),
                ("status", status.to_string())
            ]
        );
        let duration = histogram!(HTTP_DURATION, &labels);
        if let Ok(mut s) = series.write() {
            s.push((method.clone(), status, requests.clone(), duration.clone()));
        }
        (requests, duration)
    });
    requests.increment(1);
    duration.record(took.as_secs_f64());
}

fn class(class: &'static str) -> (Gauge, Counter) {
    CLASSES.get(class, || {
        let handles = (
            gauge!(HTTP_IN_FLIGHT, "class" => class),
            counter!(HTTP_SHED, "class" => class),
        );
        (class, handles)
    })
}

pub fn shed(class_name: &'static str) {
    class(class_name).1.increment(1);
}

pub fn in_flight(class_name: &'static str, change: f64) {
    class(class_name).0.increment(change);
}

/// The outcomes of `SCHEDULE_RUNS`.
pub const SCHEDULE_OUTCOMES: [&str; 4] = ["fired", "triggered", "missed", "failed"];

/// `n` schedule runs ended with `outcome` (one of `SCHEDULE_OUTCOMES`).
pub fn schedule_runs(outcome: &'static str, n: u64) {
    // Off the hot path (a sweep's runs): the macro's lookup is cheap enough.
    if n > 0 {
        counter!(SCHEDULE_RUNS, "outcome" => outcome).increment(n);
    }
}

/// Who delivers a finished task's outcome (`DEPENDENCY_DELIVERIES`).
pub const DELIVERERS: [&str; 2] = ["finisher", "sweep"];
/// The outcomes of `FLOWS`.
pub const FLOW_OUTCOMES: [&str; 3] = ["committed", "refused", "failed"];

/// A finished task's outcome reached every task that waits for it, delivered `by` one of
/// `DELIVERERS`.
pub fn dependency_delivered(by: &'static str) {
    counter!(DEPENDENCY_DELIVERIES, "by" => by).increment(1);
}

/// A flow was submitted with `outcome` (one of `FLOW_OUTCOMES`).
pub fn flow(outcome: &'static str) {
    counter!(FLOWS, "outcome" => outcome).increment(1);
}

/// `n` tasks of `queue` went through `transition` (one of `queues::TRANSITIONS`).
pub fn transition(queue: &str, transition: &'static str, n: u64) {
    if n > 0 {
        queues::transition(queue, transition, n);
    }
}

pub fn lease_wait(leased: bool, waited: Duration) {
    let outcome = if leased { "leased" } else { "empty" };
    UNLABELLED
        .get(outcome, || {
            (outcome, histogram!(LEASE_WAIT, "outcome" => outcome))
        })
        .record(waited.as_secs_f64());
}

/// The queue's tasks per state, as a sweep saw them.
pub fn queue_depths(queue: &str, counts: &StateCounts, groups: &GroupTally) {
    queues::depths(queue, counts, groups);
}

/// The queue was deleted: its series go at once.
pub fn forget_queue(queue: &str) {
    queues::forget(queue);
}

pub fn redis_call(op: &'static str, took: Duration, error: Option<&'static str>) {
    REDIS
        .get(op, || (op, histogram!(REDIS_DURATION, "op" => op)))
        .record(took.as_secs_f64());
    if let Some(kind) = error {
        counter!(REDIS_ERRORS, "kind" => kind).increment(1);
    }
}

/// A failed call that no `redis_call` counted (one call of a script call that succeeded).
pub fn redis_error(kind: &'static str) {
    counter!(REDIS_ERRORS, "kind" => kind).increment(1);
}

pub fn pool(connections: usize, in_use: i64) {
    gauge!(POOL_CONNECTIONS).set(connections as f64);
    gauge!(POOL_IN_USE).set(in_use as f64);
}

pub fn pool_wait(took: Duration) {
    UNLABELLED
        .get(POOL_WAIT, || (POOL_WAIT, histogram!(POOL_WAIT)))
        .record(took.as_secs_f64());
}

/// `change` calls began (1) or ended (-1) waiting for their lane's next batch.
pub fn batch_waiting(change: f64) {
    gauge!(CALLS_WAITING).increment(change);
}

/// A batch of `calls` left for Redis.
pub fn batch_sent(calls: usize) {
    counter!(BATCHES).increment(1);
    counter!(BATCHED_CALLS).increment(calls as u64);
}

pub fn reaper_sweep(took: Duration) {
    histogram!(REAPER_SWEEP).record(took.as_secs_f64());
}

pub fn reaper_failure() {
    counter!(REAPER_FAILURES).increment(1);
}

/// Moves recorded histogram samples into their buckets (the exporter buffers every sample until
/// this runs, so it must run on a schedule, not only when someone scrapes) and drops the series
/// of queues idle past the bound.
pub async fn upkeep(every: Duration, stop: tokio_util::sync::CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                handle().run_upkeep();
                queues::prune();
            }
            () = stop.cancelled() => return,
        }
    }
}
