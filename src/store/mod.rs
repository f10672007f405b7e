//! The task store: the only module that speaks to Redis.
//!
//! A thin engine, services on it. `Engine` (`engine.rs`) knows Redis and nothing of tasks: the
//! connections, key names, outages, and how to run an op. Each service owns one concern and
//! holds the engine:
//!
//! - `tasks`: submit, read, cancel, list (producers);
//! - `dispatch`: lease (one queue or several), heartbeat, ack, fail (workers);
//! - `policies`: a queue's policy, read and written under `If-Match`;
//! - `groups`: a queue's task groups, and each group's own limits under `If-Match`;
//! - `queues`: stats, dead letters, deletion;
//! - `schedules`: a queue's recurring schedules, written under `If-Match`, fired by the sweep;
//! - `deps`: tasks that wait for other tasks, across queues and slots (outbox and delivery);
//! - `flows`: many tasks with dependencies between them, stored all or nothing;
//! - `sweep`: the background sweep; `registry`: which queues exist, healed by the sweep;
//! - `waiting`: long-poll leases, result waits, the listeners of event streams (`notify`).
//!
//! An op is one script call: `dispatch/lease.rs` is the op and declares its script,
//! `dispatch/lease.lua` (key roles, policy fields, prelude pieces: `script.rs`). `op.rs` is the
//! op trait and reply reading; `record.rs` turns task records into API types; `prelude/` holds
//! the Lua every script shares. Callers see domain types and outcomes, never Redis values or
//! key names.

mod conn;
mod endpoint;
mod engine;
mod error;
mod in_flight;
mod keys;
mod lanes;
mod notify;
mod op;
mod outage;
mod quarantine;
mod record;
mod script;
mod settings;

pub mod deps;
pub mod dispatch;
pub mod flows;
pub mod groups;
pub mod policies;
pub mod queues;
pub mod registry;
pub mod schedules;
pub mod sweep;
pub mod tasks;
pub mod waiting;

pub use engine::Engine;
pub use error::StoreError;
pub use notify::Listener;
pub use outage::{Cause, Unavailable};
pub use settings::{PoolSettings, Replication};

use crate::model::QueuePolicy;
use registry::Registry;

/// Most tasks one batch-submit script adds; a larger batch is several scripts, pipelined.
pub const BATCH_ITEMS_MAX: usize = 100;

/// Every service of the store, on one engine. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub engine: Engine,
    pub tasks: tasks::Tasks,
    pub dispatch: dispatch::Dispatch,
    pub policies: policies::Policies,
    pub groups: groups::Groups,
    pub queues: queues::Queues,
    pub waiting: waiting::Waiting,
    pub schedules: schedules::Schedules,
    pub deps: deps::Dependencies,
    pub flows: flows::Flows,
    pub sweep: sweep::Sweep,
    pub registry: Registry,
}

/// Builds the store: its engine and every service. Connects lazily, so this succeeds while
/// Redis is down.
pub fn open(
    settings: &PoolSettings,
    key_prefix: &str,
    defaults: &QueuePolicy,
) -> Result<Services, String> {
    let engine = Engine::new(settings, key_prefix, defaults)?;
    let registry = Registry::new(engine.clone());
    let notifier = notify::Notifier::start(engine.endpoint().clone())?;
    let deps = deps::Dependencies::new(engine.clone());
    let tasks = tasks::Tasks::new(engine.clone(), registry.clone(), deps.clone());
    let dispatch = dispatch::Dispatch::new(engine.clone(), deps.clone());
    let schedules = schedules::Schedules::new(engine.clone(), registry.clone());
    Ok(Services {
        policies: policies::Policies::new(engine.clone(), registry.clone()),
        groups: groups::Groups::new(engine.clone(), registry.clone()),
        queues: queues::Queues::new(engine.clone(), registry.clone()),
        waiting: waiting::Waiting::new(engine.clone(), notifier, dispatch.clone(), tasks.clone()),
        flows: flows::Flows::new(engine.clone(), tasks.clone()),
        sweep: sweep::Sweep::new(
            engine.clone(),
            registry.clone(),
            schedules.clone(),
            deps.clone(),
            flows::Flows::new(engine.clone(), tasks.clone()),
        ),
        schedules,
        deps,
        registry,
        tasks,
        dispatch,
        engine,
    })
}

/// Every script. A new script is one more line here (the unit tests check each, an API test
/// loads each library into Redis, and the engine lays out each one's policy arguments once).
pub(crate) static SCRIPTS: &[&script::ScriptDef] = &[
    &tasks::SUBMIT,
    &tasks::SUBMIT_BATCH,
    &tasks::GET,
    &tasks::PEEK,
    &dispatch::LEASE,
    &dispatch::HEARTBEAT,
    &dispatch::HEARTBEAT_WITH_PROGRESS,
    &dispatch::ACK,
    &dispatch::ACK_WITH_RESULT,
    &dispatch::ACK_BATCH,
    &dispatch::ACK_BATCH_WITH_RESULTS,
    &dispatch::FAIL,
    &dispatch::FAIL_WITH_LONG_ERROR,
    &sweep::REAP,
    &quarantine::QUARANTINE,
    &policies::POLICY,
    &queues::STATS,
    &queues::HISTORY,
    &queues::NOTE_HISTORY,
    &queues::WORKERS,
    &tasks::CANCEL,
    &tasks::EXPLAIN,
    &tasks::LIST,
    &queues::REDRIVE,
    &queues::PURGE_DEAD,
    &queues::DROP,
    &groups::VIEW,
    &groups::WRITE,
    &schedules::READ,
    &schedules::LIST,
    &schedules::WRITE,
    &schedules::WRITE_IN_PLACE,
    &schedules::DELETE,
    &schedules::DUE,
    &schedules::FIRE,
    &deps::EXISTS,
    &deps::LINK,
    &deps::LINKED,
    &deps::RESOLVE,
    &deps::RESOLVE_WITH_RESULT,
    &deps::OUTBOX,
    &deps::DELIVERED,
    &deps::DUE,
    &flows::BEGIN,
    &flows::COMMIT,
    &flows::FORGET,
    &flows::ABORT,
    &flows::DISCARD,
    &flows::READ,
    &flows::DUE,
    &flows::STATES,
];

/// Every script's Redis function library, as (name, text): for the test that loads each into a
/// real Redis (a library that does not load would fail its first call, not this build).
#[doc(hidden)]
pub fn libraries() -> impl Iterator<Item = (&'static str, &'static str)> {
    SCRIPTS.iter().map(|def| {
        let library = def.library();
        (library.name.as_str(), library.text.as_str())
    })
}
