//! The sweep service: the background sweep. Every instance runs it: each sweep of a queue is one
//! atomic script (`reap.rs`, `reap.lua`), so any number of instances sweeping at once never handle a task
//! twice. It reclaims expired leases even when no worker calls that queue again, promotes due
//! retries and delayed tasks, purges terminal tasks past their retention, fires the schedules
//! whose tick has come (`store/schedules`: each tick once, whoever fires it), delivers the
//! outcomes of finished tasks that others wait for and re-links waiting tasks (`store/deps`),
//! and keeps the queue registry true.
//!
//! Isolation: one queue's failure is logged with its name and the sweep goes on with the next;
//! so does a failed part of the tick (the registry's scan, its reading), logged with what failed.
//! Bounds: a tick sweeps at most `QUEUES_PER_TICK` queues (taking turns through the registry)
//! and at most `PASSES_PER_QUEUE` bounded scripts per queue, and scans a bounded slice of the
//! keyspace, so its cost does not grow with the number of queues ever created.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

mod reap;
mod types;

pub(crate) use reap::REAP;
pub use types::*;

use super::deps::Dependencies;
use super::flows::Flows;
use super::registry::Registry;
use super::schedules::Schedules;
use super::{Engine, StoreError};
use crate::metrics;
use crate::model::QueueName;

/// Queues swept per tick; more registered queues are swept over several ticks.
const QUEUES_PER_TICK: usize = 200;
/// Queues swept at once (their scripts share the pipelined connections).
const CONCURRENT_SWEEPS: usize = 16;
/// Bounded sweep scripts one queue may get per tick before the others' turn.
const PASSES_PER_QUEUE: usize = 8;
/// Ticks a full scan of the keyspace for lost registry entries should take (30 s at 500 ms).
const HEAL_PASS_TICKS: u64 = 60;
/// Keys scanned per tick, at least and at most.
const HEAL_SCAN_MIN: u64 = 1_000;
const HEAL_SCAN_MAX: u64 = 20_000;
/// How often one queue's repeated failure, or one part of the tick's, is logged.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

/// What one tick did.
#[derive(Debug, Default, Clone, Copy)]
pub struct TickReport {
    pub queues_swept: usize,
    pub queues_failed: usize,
    pub reclaimed: i64,
    pub promoted: i64,
    pub purged: i64,
    /// Queues the registry scan found (registered again if they had been lost).
    pub queues_found: usize,
}

/// Sweeping queues. Cheap to clone.
#[derive(Clone)]
pub struct Sweep {
    engine: Engine,
    registry: Registry,
    schedules: Schedules,
    deps: Dependencies,
    flows: Flows,
}

impl Sweep {
    pub(super) fn new(
        engine: Engine,
        registry: Registry,
        schedules: Schedules,
        deps: Dependencies,
        flows: Flows,
    ) -> Self {
        Self {
            engine,
            registry,
            schedules,
            deps,
            flows,
        }
    }

    /// One bounded sweep of a queue: expired leases, due tasks, expired terminal tasks. A queue
    /// that turns out to be gone (nothing left in it) leaves the registry.
    pub async fn reap(&self, queue: &QueueName) -> Result<ReapReport, StoreError> {
        let report = self.engine.run(queue, reap::Reap).await?;
        if report.gone {
            self.registry.unregister(queue).await?;
        }
        Ok(report)
    }
}

/// The sweep's state between ticks: where the registry scan and the queue turns left off.
pub struct Reaper {
    sweep: Sweep,
    scan_cursor: u64,
    /// How many keys Redis held when last counted (sizes each slice of the registry scan).
    key_count: u64,
    resume_after: Option<QueueName>,
    /// The queues of the last turn that could be read from the registry: swept again when
    /// the registry cannot be read, so its trouble does not stop every queue's sweep.
    last_turn: Vec<QueueName>,
    queue_errors_logged: HashMap<QueueName, Instant>,
    step_errors_logged: HashMap<Step, Instant>,
}

/// The parts of a tick that can fail on their own, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    CountKeys,
    ScanKeys,
    Register,
    ReadRegistry,
}

impl Step {
    fn words(self) -> &'static str {
        match self {
            Self::CountKeys => "counting Redis's keys (DBSIZE) to size the registry scan",
            Self::ScanKeys => "scanning the keyspace for queues (SCAN) to heal the registry",
            Self::Register => "adding the queues found by the scan to the registry",
            Self::ReadRegistry => "reading the queue registry for this tick's queues",
        }
    }
}

/// Sweeps every `every`, until `stop` is cancelled. A tick in progress is dropped between two
/// scripts or mid-script-call: each script is atomic, so Redis either ran it whole or not at all.
pub async fn run(sweep: Sweep, every: Duration, stop: CancellationToken) {
    let mut reaper = Reaper::new(sweep);
    let mut ticker = tokio::time::interval(every);
    // After a slow tick, wait a full interval rather than firing a burst of catch-up ticks.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticks = async {
        loop {
            ticker.tick().await;
            reaper.tick().await;
        }
    };
    tokio::select! {
        () = ticks => {}
        () = stop.cancelled() => {}
    }
}

impl Reaper {
    pub fn new(sweep: Sweep) -> Self {
        Self {
            sweep,
            scan_cursor: 0,
            key_count: 0,
            resume_after: None,
            last_turn: Vec::new(),
            queue_errors_logged: HashMap::new(),
            step_errors_logged: HashMap::new(),
        }
    }

    /// One tick: a slice of the registry scan, then the next turn of queues. Each part fails on
    /// its own, logged (at most once a minute per part) with what failed, and the rest of the
    /// tick goes on: a Cluster primary that cannot answer `DBSIZE` or `SCAN`, or the one that
    /// holds the registry, stops no other queue's sweep.
    pub async fn tick(&mut self) -> TickReport {
        let started = Instant::now();
        let report = self.sweep().await;
        metrics::reaper_sweep(started.elapsed());
        report
    }

    async fn sweep(&mut self) -> TickReport {
        let mut report = TickReport::default();
        let found = self.heal_step().await;
        report.queues_found = found.len();
        let queues = self.turn(found).await;
        let sweep = &self.sweep;
        let results: Vec<(QueueName, Result<ReapReport, StoreError>)> =
            futures_util::stream::iter(queues)
                .map(|queue| async move {
                    let result = sweep_queue(sweep, &queue).await;
                    (queue, result)
                })
                .buffer_unordered(CONCURRENT_SWEEPS)
                .collect()
                .await;
        for (queue, result) in results {
            match result {
                Ok(swept) => {
                    record(&queue, &swept);
                    report.queues_swept += 1;
                    report.reclaimed += swept.reclaimed;
                    report.promoted += swept.promoted;
                    report.purged += swept.purged;
                }
                Err(err) => {
                    metrics::reaper_failure();
                    report.queues_failed += 1;
                    self.log_queue_error(&queue, &err);
                }
            }
        }
        if report.reclaimed + report.promoted + report.purged > 0 {
            tracing::debug!(?report, "reaper tick");
        }
        report
    }

    /// The queues to sweep this tick: the next turn of the registry. When the registry cannot
    /// be read, the last turn that could be, with the queues the scan found this tick.
    async fn turn(&mut self, found: Vec<QueueName>) -> Vec<QueueName> {
        match self
            .sweep
            .registry
            .queues_after(self.resume_after.as_ref(), QUEUES_PER_TICK)
            .await
        {
            Ok(queues) => {
                self.resume_after = match queues.last() {
                    Some(last) if queues.len() == QUEUES_PER_TICK => Some(last.clone()),
                    _ => None,
                };
                self.last_turn.clone_from(&queues);
                queues
            }
            Err(err) => {
                self.log_step_error(Step::ReadRegistry, &err);
                let mut queues = self.last_turn.clone();
                for queue in found {
                    if queues.len() < QUEUES_PER_TICK && !queues.contains(&queue) {
                        queues.push(queue);
                    }
                }
                queues
            }
        }
    }

    /// Scans a slice of the keyspace, sized so a full pass takes about `HEAL_PASS_TICKS`, and
    /// registers the queues it finds. Returns them (empty when the scan failed).
    async fn heal_step(&mut self) -> Vec<QueueName> {
        match self.sweep.registry.key_count().await {
            Ok(keys) => self.key_count = keys,
            // The last count (or the smallest slice) does: it only sizes the scan.
            Err(err) => self.log_step_error(Step::CountKeys, &err),
        }
        let count = (self.key_count / HEAL_PASS_TICKS).clamp(HEAL_SCAN_MIN, HEAL_SCAN_MAX);
        let found = match self
            .sweep
            .registry
            .scan_for_queues(self.scan_cursor, count as usize)
            .await
        {
            Ok((next, found)) => {
                self.scan_cursor = next;
                found
            }
            Err(err) => {
                self.log_step_error(Step::ScanKeys, &err);
                return Vec::new();
            }
        };
        if let Err(err) = self.sweep.registry.register(&found).await {
            self.log_step_error(Step::Register, &err);
        }
        found
    }

    /// Logs a failed part of the tick with what it was, at most once a minute per part.
    fn log_step_error(&mut self, step: Step, err: &StoreError) {
        if !first_in_a_while(&mut self.step_errors_logged, step) {
            return;
        }
        tracing::warn!(
            failed = step.words(),
            error = %err,
            "a part of the reaper's sweep failed; the rest of the sweep goes on"
        );
    }

    /// Logs one queue's failure with its name, at most once a minute per queue. An outage is
    /// not one queue's failure: the store's outage log covers it.
    fn log_queue_error(&mut self, queue: &QueueName, err: &StoreError) {
        if matches!(err, StoreError::Unavailable(_))
            || !first_in_a_while(&mut self.queue_errors_logged, queue.clone())
        {
            return;
        }
        tracing::warn!(queue = %queue, error = %err, "sweeping this queue failed; going on with the others");
    }
}

/// Whether `what` may be logged now (not logged within `ERROR_LOG_EVERY`); if so, notes it.
fn first_in_a_while<K: Eq + std::hash::Hash>(logged: &mut HashMap<K, Instant>, what: K) -> bool {
    let now = Instant::now();
    if logged
        .get(&what)
        .is_some_and(|at| now.duration_since(*at) < ERROR_LOG_EVERY)
    {
        return false;
    }
    logged.retain(|_, at| now.duration_since(*at) < ERROR_LOG_EVERY);
    logged.insert(what, now);
    true
}

/// The sweep's metrics: what it changed, and the queue's depth per state as it left it.
fn record(queue: &QueueName, swept: &ReapReport) {
    metrics::transition(queue.as_str(), "expired", swept.reclaimed.max(0) as u64);
    metrics::transition(queue.as_str(), "purged", swept.purged.max(0) as u64);
    metrics::queue_depths(queue.as_str(), &swept.counts, &swept.groups);
}

/// Sweeps one queue with up to `PASSES_PER_QUEUE` bounded scripts.
async fn sweep_queue(sweep: &Sweep, queue: &QueueName) -> Result<ReapReport, StoreError> {
    let mut total = ReapReport::default();
    for _ in 0..PASSES_PER_QUEUE {
        let pass = sweep.reap(queue).await?;
        total.reclaimed += pass.reclaimed;
        total.promoted += pass.promoted;
        total.purged += pass.purged;
        total.more = pass.more;
        total.gone = pass.gone;
        total.counts = pass.counts;
        total.groups = pass.groups;
        total.schedules_due = pass.schedules_due;
        total.schedules = pass.schedules;
        total.outbox_due = pass.outbox_due;
        total.links_due = pass.links_due;
        total.flows_due = pass.flows_due;
        if !pass.more {
            break;
        }
    }
    if total.schedules_due > 0 {
        let fired = sweep.schedules.fire_due(queue).await?;
        total.fired = fired.fired;
    }
    if total.schedules > 0 {
        sweep.schedules.mend_some(queue).await?;
    }
    if total.outbox_due + total.links_due > 0 {
        sweep.deps.sweep(queue).await?;
    }
    if total.flows_due > 0 {
        sweep.flows.sweep(queue).await?;
    }
    Ok(total)
}
