//! Prometheus metrics: the one function that records each metric (their names and
//! descriptions are in `names.rs`), so the README's list and the code cannot disagree. Recording goes through the `metrics` crate
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

mod names;
mod queues;

pub use names::*;
pub use queues::{DEFAULT_IDLE as DEFAULT_QUEUE_IDLE, DEFAULT_MAX as DEFAULT_MAX_QUEUES, OTHER};

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
