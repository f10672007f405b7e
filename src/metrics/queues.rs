//! The series labelled by queue (`taskgate_task_transitions_total`, `taskgate_queue_tasks`,
//! `taskgate_queue_groups`: no series is labelled by task group, whose names are unbounded),
//! kept here rather than in the exporter's registry, because queue names are the one label
//! whose values a client chooses: any producer key can make up queues. The exporter can neither
//! drop one series nor cap how many there are; here a queue's series
//!
//! - are dropped at once when the queue is deleted through this instance;
//! - are dropped once the queue has been idle past a bound: no task transition, and no task
//!   that still needs someone (scheduled, ready, leased, dead or quarantined) in its depth
//!   samples; completed and cancelled tasks kept for their retention do not keep it;
//! - exist for at most `max` queues at once; the queues seen after that are tracked, but their
//!   series are summed under `queue="(other)"`.
//!
//! A queue keeps the kind it was given (series of its own, or counted under `(other)`) for as
//! long as it is tracked, so that no counter ever goes backwards; a dropped queue that comes
//! back starts again from 0, which Prometheus reads as a counter reset.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_type_line,
};

use crate::model::{GroupTally, StateCounts};

/// The `transition` label values, in the order of each queue's counters.
pub const TRANSITIONS: [&str; 10] = [
    "submitted",
    "leased",
    "completed",
    "retried",
    "dead",
    "cancelled",
    "expired",
    "start_expired",
    "redriven",
    "purged",
];

/// The label value that stands for every queue past the cap.
pub const OTHER: &str = "(other)";

/// States whose tasks keep a queue's series alive: they still need a worker or an operator.
const NEEDS_SOMEONE: [&str; 5] = ["scheduled", "ready", "leased", "dead", "quarantined"];

/// How long a deleted queue's depth samples are ignored: a reaper tick that sampled the queue
/// just before the deletion may report after it, and must not bring the series back.
const TOMBSTONE: Duration = Duration::from_secs(60);

const STATES: usize = 7;

/// The `state` label values of the groups gauge, in the order of `Entry::groups`.
const GROUP_STATES: [&str; 2] = ["ready", "held"];

/// One tracked queue.
struct Entry {
    /// Series of its own; else counted under `(other)`.
    own: bool,
    transitions: [AtomicU64; TRANSITIONS.len()],
    depths: [AtomicU64; STATES],
    groups: [AtomicU64; GROUP_STATES.len()],
    sampled: AtomicBool,
    /// When it was last active, in milliseconds since `EPOCH`.
    active_at: AtomicU64,
}

impl Entry {
    fn new(own: bool, now: u64) -> Self {
        Self {
            own,
            transitions: Default::default(),
            depths: Default::default(),
            groups: Default::default(),
            sampled: AtomicBool::new(false),
            active_at: AtomicU64::new(now),
        }
    }
}

struct Registry {
    /// Recording happens under the read lock, so that dropping a queue (under the write lock)
    /// never races with a count on its way in.
    entries: RwLock<HashMap<String, Entry>>,
    /// Entries with series of their own (changed only under the write lock).
    own: AtomicUsize,
    /// Transitions of the queues past the cap, summed.
    other: [AtomicU64; TRANSITIONS.len()],
    /// Queues deleted lately, and when (ms since `EPOCH`).
    deleted: Mutex<HashMap<String, u64>>,
    max: AtomicUsize,
    idle_ms: AtomicU64,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    entries: RwLock::new(HashMap::new()),
    own: AtomicUsize::new(0),
    other: Default::default(),
    deleted: Mutex::new(HashMap::new()),
    max: AtomicUsize::new(DEFAULT_MAX),
    idle_ms: AtomicU64::new(DEFAULT_IDLE.as_millis() as u64),
});

/// The defaults of `--metrics-max-queues` and `--metrics-queue-idle-ms`.
pub const DEFAULT_MAX: usize = 1000;
pub const DEFAULT_IDLE: Duration = Duration::from_secs(3600);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// Sets the cap and the idle bound. They are the process's, as the recorder is: the last
/// server started in the process sets them.
pub fn limit(max: usize, idle: Duration) {
    REGISTRY.max.store(max, Ordering::Relaxed);
    REGISTRY
        .idle_ms
        .store(idle.as_millis() as u64, Ordering::Relaxed);
}

/// `n` tasks of `queue` went through `transition` (one of `TRANSITIONS`).
pub fn transition(queue: &str, transition: &'static str, n: u64) {
    let Some(at) = TRANSITIONS.iter().position(|t| *t == transition) else {
        debug_assert!(false, "transition {transition} is not in TRANSITIONS");
        return;
    };
    let registry = &*REGISTRY;
    let count = |entry: &Entry| {
        entry.active_at.store(now_ms(), Ordering::Relaxed);
        let counter = if entry.own {
            &entry.transitions[at]
        } else {
            &registry.other[at]
        };
        counter.fetch_add(n, Ordering::Relaxed);
    };
    if let Ok(entries) = registry.entries.read() {
        if let Some(entry) = entries.get(queue) {
            count(entry);
            return;
        }
    }
    // After a deletion, a queue's new life begins with a submit; anything else reported for
    // it a moment after (an ack or a sweep that raced the deletion) is about the old one.
    if let Ok(mut deleted) = registry.deleted.lock() {
        if transition == "submitted" {
            deleted.remove(queue);
        } else if deleted.contains_key(queue) {
            return;
        }
    }
    if let Ok(mut entries) = registry.entries.write() {
        count(registry.track(&mut entries, queue));
    }
}

/// The queue's tasks per state and its groups with ready tasks, as a sweep saw them.
pub fn depths(queue: &str, counts: &StateCounts, groups: &GroupTally) {
    let states = counts.by_state();
    let busy = states
        .iter()
        .any(|(state, n)| *n > 0 && NEEDS_SOMEONE.contains(state));
    let registry = &*REGISTRY;
    let set = |entry: &Entry| {
        for (depth, (_, n)) in entry.depths.iter().zip(states) {
            depth.store(n, Ordering::Relaxed);
        }
        for (slot, n) in entry.groups.iter().zip([groups.ready, groups.held]) {
            slot.store(n, Ordering::Relaxed);
        }
        entry.sampled.store(true, Ordering::Relaxed);
        if busy {
            entry.active_at.store(now_ms(), Ordering::Relaxed);
        }
    };
    if let Ok(entries) = registry.entries.read() {
        if let Some(entry) = entries.get(queue) {
            set(entry);
            return;
        }
    }
    // A sample alone starts tracking a queue only when it holds work, and not when the queue
    // was deleted a moment ago (the sample may predate the deletion).
    let deleted_lately = registry
        .deleted
        .lock()
        .is_ok_and(|deleted| deleted.contains_key(queue));
    if !busy || deleted_lately {
        return;
    }
    if let Ok(mut entries) = registry.entries.write() {
        set(registry.track(&mut entries, queue));
    }
}

/// Drops the queue's series at once (it was deleted).
pub fn forget(queue: &str) {
    let registry = &*REGISTRY;
    if let Ok(mut deleted) = registry.deleted.lock() {
        deleted.insert(queue.to_owned(), now_ms());
    }
    let removed = registry
        .entries
        .write()
        .ok()
        .and_then(|mut entries| entries.remove(queue));
    if removed.is_some_and(|entry| entry.own) {
        registry.own.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drops the series of queues idle past the bound, and forgets old deletions.
pub fn prune() {
    let registry = &*REGISTRY;
    let now = now_ms();
    let idle_ms = registry.idle_ms.load(Ordering::Relaxed);
    if let Ok(mut entries) = registry.entries.write() {
        entries.retain(|_, entry| {
            let keep = now.saturating_sub(entry.active_at.load(Ordering::Relaxed)) <= idle_ms;
            if !keep && entry.own {
                registry.own.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }
    if let Ok(mut deleted) = registry.deleted.lock() {
        let tombstone = TOMBSTONE.as_millis() as u64;
        deleted.retain(|_, at| now.saturating_sub(*at) <= tombstone);
    }
}

impl Registry {
    /// The queue's entry, made now if need be: with series of its own while there is room.
    fn track<'a>(&self, entries: &'a mut HashMap<String, Entry>, queue: &str) -> &'a Entry {
        if !entries.contains_key(queue) {
            let own = self.own.load(Ordering::Relaxed) < self.max.load(Ordering::Relaxed);
            if own {
                self.own.fetch_add(1, Ordering::Relaxed);
            }
            entries.insert(queue.to_owned(), Entry::new(own, now_ms()));
        }
        &entries[queue]
    }
}

/// Appends the three families, in the Prometheus text format, to `out`: each given as (name,
/// description). Their `# TYPE` lines are written even before the first series.
pub fn render(
    out: &mut String,
    transitions: (&str, &str),
    depths: (&str, &str),
    groups: (&str, &str),
) {
    prune();
    let registry = &*REGISTRY;
    let Ok(entries) = registry.entries.read() else {
        return;
    };
    let mut names: Vec<&String> = entries.keys().collect();
    names.sort();
    let states = StateCounts::default().by_state().map(|(state, _)| state);

    let (name, help) = transitions;
    write_help_line(out, name, help);
    write_type_line(out, name, "counter");
    for queue in &names {
        let entry = &entries[*queue];
        if !entry.own {
            continue;
        }
        for (transition, count) in TRANSITIONS.iter().zip(&entry.transitions) {
            line(
                out,
                name,
                queue,
                "transition",
                transition,
                count.load(Ordering::Relaxed),
            );
        }
    }
    for (transition, count) in TRANSITIONS.iter().zip(&registry.other) {
        line(
            out,
            name,
            OTHER,
            "transition",
            transition,
            count.load(Ordering::Relaxed),
        );
    }
    out.push('\n');

    gauges(out, depths, &entries, &names, &states, |e| &e.depths);
    gauges(out, groups, &entries, &names, &GROUP_STATES, |e| &e.groups);
}

/// One gauge family labelled by queue and `state`: a queue's own series, or its share of the
/// `(other)` sums, from the values `slots` picks out of each sampled entry.
fn gauges(
    out: &mut String,
    (name, help): (&str, &str),
    entries: &HashMap<String, Entry>,
    names: &[&String],
    states: &[&str],
    slots: impl Fn(&Entry) -> &[AtomicU64],
) {
    write_help_line(out, name, help);
    write_type_line(out, name, "gauge");
    let mut other = vec![0u64; states.len()];
    let mut others_sampled = false;
    for queue in names {
        let entry = &entries[*queue];
        if !entry.sampled.load(Ordering::Relaxed) {
            continue;
        }
        let values = slots(entry).iter().map(|d| d.load(Ordering::Relaxed));
        if entry.own {
            for (state, n) in states.iter().zip(values) {
                gauge_line(out, name, queue, state, n);
            }
        } else {
            others_sampled = true;
            for (sum, n) in other.iter_mut().zip(values) {
                *sum += n;
            }
        }
    }
    if others_sampled {
        for (state, n) in states.iter().zip(other) {
            gauge_line(out, name, OTHER, state, n);
        }
    }
    out.push('\n');
}

/// One counter line, written only once the counter has moved (as the exporter does: a series
/// appears with its first count).
fn line(out: &mut String, name: &str, queue: &str, label: &str, value: &str, count: u64) {
    if count > 0 {
        let queue = sanitize_label_value(queue);
        let _ = writeln!(
            out,
            "{name}{{queue=\"{queue}\",{label}=\"{value}\"}} {count}"
        );
    }
}

fn gauge_line(out: &mut String, name: &str, queue: &str, state: &str, n: u64) {
    let queue = sanitize_label_value(queue);
    let _ = writeln!(out, "{name}{{queue=\"{queue}\",state=\"{state}\"}} {n}");
}
