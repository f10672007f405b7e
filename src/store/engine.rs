//! The store's engine: what knows Redis and nothing of tasks. It holds the connections (the
//! shared ones and those replicated writes hold alone), the key space, the server's policy
//! defaults as script arguments, and the outage log; it runs one op (a script call), the ops of
//! one batch together, or one plain command, and feeds every call's outcome to the metrics and
//! the outage log. The services (`tasks`, `dispatch`, ...) sit on it and own the domain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use deadpool_redis::redis::{self, Value};
use futures_util::future::BoxFuture;

use super::StoreError;
use super::conn::{Conn, Connections};
use super::endpoint::Endpoint;
use super::in_flight::InFlight;
use super::keys::KeySpace;
use super::lanes::{Call, Carrier, Joined, Lane, LaneKey, Lanes, Sent, Turn, call_of, first};
use super::op::{Op, Reply, into_array, is_status};
use super::outage::OutageLog;
use super::policies::format_value;
use super::quarantine::Quarantine;
use super::script::{ScriptDef, ScriptId};
use super::settings::{PoolSettings, Replication};
use crate::metrics;
use crate::model::{Field, QueueName, QueuePolicy};

mod commands;

/// The engine. Cheap to clone: one `Arc`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Connections held alone by replicated writes, for each shared connection (see
/// `conn::pool::Held`): enough that waits for a slow replica rarely queue for one.
const EXCLUSIVE_PER_SHARED: usize = 8;

struct Inner {
    conns: Connections,
    /// For replicated writes only; opened when the first one comes.
    exclusive: Connections,
    keys: KeySpace,
    /// The server's policy defaults, and as script arguments: each script's ARGV opens with
    /// the defaults of the policy fields it declares ('' for a limit that is not set; see
    /// `prelude/base.lua`). Those arguments are laid out once per script, so a call copies them
    /// instead of looking up each of its ~20 fields.
    defaults: QueuePolicy,
    policy_args: HashMap<ScriptId, Vec<String>>,
    /// The same by field, for a script missing from `SCRIPTS` (it works, only more slowly).
    policy_by_field: HashMap<&'static str, String>,
    outages: OutageLog,
    in_flight: InFlight,
    endpoint: Arc<Endpoint>,
    /// Where concurrent calls of one script for one queue wait to travel together.
    lanes: Arc<Lanes>,
}

impl Engine {
    /// Builds the engine. Connects lazily, so this succeeds while Redis is down.
    pub fn new(
        settings: &PoolSettings,
        key_prefix: &str,
        policy: &QueuePolicy,
    ) -> Result<Self, String> {
        let policy_by_field: HashMap<&'static str, String> = Field::ALL
            .into_iter()
            .map(|field| {
                let value = policy.get(field).map(format_value);
                (field.name(), value.unwrap_or_default())
            })
            .collect();
        let arg_of = |field: &&str| policy_by_field.get(field).cloned().unwrap_or_default();
        let policy_args = super::SCRIPTS
            .iter()
            .map(|def| (ScriptId::of(def), def.policy.iter().map(arg_of).collect()))
            .collect();
        let endpoint = Arc::new(Endpoint::new(settings)?);
        Ok(Self {
            inner: Arc::new(Inner {
                conns: Connections::new(settings, endpoint.clone())?,
                exclusive: Connections::new(
                    &PoolSettings {
                        max_size: settings.max_size * EXCLUSIVE_PER_SHARED,
                        ..settings.clone()
                    },
                    endpoint.clone(),
                )?,
                keys: KeySpace::new(key_prefix),
                defaults: policy.clone(),
                policy_args,
                policy_by_field,
                outages: OutageLog::new(crate::redact::url(&settings.url)),
                endpoint,
                in_flight: InFlight::default(),
                lanes: Arc::default(),
            }),
        })
    }

    /// The key space (key names of every queue).
    pub(super) fn keys(&self) -> &KeySpace {
        &self.inner.keys
    }

    /// The server's policy defaults.
    pub(super) fn defaults(&self) -> &QueuePolicy {
        &self.inner.defaults
    }

    /// Where Redis is.
    pub(super) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.inner.endpoint
    }

    /// Runs one op, then moves aside any record its reply carried that could not be read.
    pub(super) async fn run<O: Op>(
        &self,
        queue: &QueueName,
        op: O,
    ) -> Result<O::Outcome, StoreError> {
        Ok(self.run_replicated(queue, op, None).await?.0)
    }

    /// As `run`; with `replication`, then waits (`WAIT`, on the connection the script ran on)
    /// until that many replicas have the change, or the wait ends. Returns how many confirmed.
    pub(super) async fn run_replicated<O: Op>(
        &self,
        queue: &QueueName,
        op: O,
        replication: Option<Replication>,
    ) -> Result<(O::Outcome, u32), StoreError> {
        self.run_in(queue, op, replication, Lane::Join).await
    }

    /// `run_replicated`, in the op's lane or past it.
    async fn run_in<O: Op>(
        &self,
        queue: &QueueName,
        op: O,
        replication: Option<Replication>,
        lane: Lane,
    ) -> Result<(O::Outcome, u32), StoreError> {
        let (outcome, unreadable, confirmed) = self.call(queue, op, replication, lane).await?;
        if !unreadable.is_empty() {
            let records = Quarantine {
                records: &unreadable,
            };
            self.call(queue, records, None, Lane::Join).await?;
        }
        Ok((outcome, confirmed))
    }

    /// Runs the scripts of one batch (`chunks`, each an op) together; with `replication`, each
    /// then waits for its replicas (each on a connection of its own, as `call` does). Returns
    /// the chunks' outcomes in order and the fewest replicas any chunk got: with no chunk,
    /// nothing needed confirming, so the count asked for. One chunk joins its lane as any call
    /// does; several go past it, side by side (in the lane, each full chunk would wait for the
    /// one before).
    pub(super) async fn run_chunks<O: Op>(
        &self,
        queue: &QueueName,
        chunks: impl IntoIterator<Item = O>,
        replication: Option<Replication>,
    ) -> Result<(Vec<O::Outcome>, u32), StoreError> {
        let chunks: Vec<O> = chunks.into_iter().collect();
        let lane = if chunks.len() > 1 {
            Lane::Past
        } else {
            Lane::Join
        };
        let ran = futures_util::future::try_join_all(
            chunks
                .into_iter()
                .map(|op| self.run_in(queue, op, replication, lane)),
        )
        .await?;
        let asked = replication.map_or(0, |r| r.replicas);
        let confirmed = ran.iter().map(|(_, n)| *n).min().unwrap_or(asked);
        Ok((
            ran.into_iter().map(|(outcome, _)| outcome).collect(),
            confirmed,
        ))
    }

    /// Calls one op: alone, or, when the op may travel with others, in its lane
    /// (`lanes.rs`). Then reads its reply.
    async fn call<O: Op>(
        &self,
        queue: &QueueName,
        op: O,
        replication: Option<Replication>,
        lane: Lane,
    ) -> Result<(O::Outcome, Vec<(String, String)>, u32), StoreError> {
        let def = op.script();
        let weight = op.batch_weight().filter(|_| matches!(lane, Lane::Join));
        let (mut value, mut confirmed) = match weight {
            Some(weight) => {
                let lane = LaneKey {
                    script: def,
                    queue: queue.clone(),
                    replication,
                };
                match self
                    .inner
                    .lanes
                    .join(self.inner.clone(), lane, call_of(&op, weight))
                {
                    Joined::Lead(turn, call) => first(
                        self.send(queue, def, &[call], replication, Some(turn))
                            .await?,
                    ),
                    Joined::Wait(waiter) => waiter.answer().await?,
                }
            }
            None => first(
                self.send(queue, def, &[call_of(&op, 1)], replication, None)
                    .await?,
            ),
        };
        if is_status(&value, "again") {
            // The calls before it in its script call used that call's budget (`SHARED` in
            // prelude/base.lua): alone, it is first and has the whole of it.
            let sent = self
                .send(queue, def, &[call_of(&op, 1)], replication, None)
                .await?;
            (value, confirmed) = first(sent);
        }
        let mut reply = Reply::parse(queue, value).map_err(|err| {
            // A call's own Lua error ('!error'): its script call as a whole succeeded.
            metrics::redis_error(err.kind());
            err.in_script(def.name)
        })?;
        let outcome = op.outcome(&mut reply);
        metrics::transition(queue.as_str(), "start_expired", reply.unstarted);
        if !reply.quarantined.is_empty() || !reply.unreadable.is_empty() {
            tracing::warn!(
                queue = %queue,
                moved_by_script = ?reply.quarantined,
                unreadable = ?reply.unreadable,
                "task records could not be read and were moved to the queue's quarantine"
            );
        }
        Ok((outcome?, reply.unreadable, confirmed))
    }

    /// One script call carrying `calls`, with the keys of its roles and the policy block; then
    /// the replication wait, if asked for. Returns each call's reply, in order, and how many
    /// replicas confirmed. A lane's `turn` is handed on as soon as the script is answered,
    /// before the wait (`lanes.rs`).
    async fn send(
        &self,
        queue: &QueueName,
        def: &'static ScriptDef,
        calls: &[Call],
        replication: Option<Replication>,
        turn: Option<Turn>,
    ) -> Result<(Vec<Value>, u32), StoreError> {
        let library = def.library();
        let mut fcall = redis::cmd("FCALL");
        fcall.arg(&library.name).arg(def.roles.len());
        let mut keys = self.inner.keys.queue_keys(queue);
        for role in def.roles {
            fcall.arg(keys.key(role));
        }
        match self.inner.policy_args.get(&ScriptId::of(def)) {
            Some(values) => values.iter().for_each(|value| {
                fcall.arg(value.as_str());
            }),
            None => def.policy.iter().for_each(|field| {
                let value = self.inner.policy_by_field.get(field);
                fcall.arg(value.map_or("", String::as_str));
            }),
        }
        fcall.arg(rand::random::<u32>()).arg(calls.len());
        for call in calls {
            fcall.arg(call.args.len());
            for arg in &call.args {
                fcall.arg(arg.as_slice());
            }
        }
        let started = Instant::now();
        // A replicated write runs on a connection of its own, whose WAIT holds up nobody.
        let checkout = match replication {
            None => self.conn().await.map(|conn| (conn, None)),
            Some(_) => {
                (self.inner.exclusive.get_exclusive().await).map(|(conn, held)| (conn, Some(held)))
            }
        };
        let ran = match checkout {
            Ok((mut conn, held)) => {
                let _busy = self.inner.in_flight.enter();
                let value = conn.fcall(&fcall, library).await;
                value.map(|value| (value, conn, held))
            }
            Err(err) => Err(err),
        };
        let ran = self.observe(def.name, started, ran);
        // Held until the end (after any WAIT): see `Turn::script_ran`.
        let _after_script = turn.map(|turn| turn.script_ran(&ran));
        let (value, mut conn, _held) = ran.map_err(|err| err.in_script(def.name))?;
        let replies = into_array(value)?;
        if replies.len() != calls.len() {
            return Err(StoreError::Corrupt(format!(
                "{}.lua answered {} calls of {}",
                def.name,
                replies.len(),
                calls.len()
            )));
        }
        let confirmed = match replication {
            Some(replication) => {
                let started = Instant::now();
                let marker_key = self.inner.keys.replica_marker(queue);
                let result = conn.wait_replicas(replication, &marker_key).await;
                self.observe("WAIT", started, result)?
            }
            None => 0,
        };
        Ok((replies, confirmed))
    }

    /// Feeds every call's outcome to the outage log and the metrics.
    fn observe<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let error = match &result {
            Ok(_) => {
                self.inner.outages.succeeded(started);
                None
            }
            Err(err) => {
                if let StoreError::Unavailable(why) = err {
                    self.inner.outages.failed(why);
                }
                Some(err.kind())
            }
        };
        metrics::redis_call(op, started.elapsed(), error);
        result
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        let started = Instant::now();
        let conn = self.inner.conns.get().await;
        metrics::pool_wait(started.elapsed());
        conn
    }

    /// Refreshes the pool gauges (connections open, calls in flight): cheap, done per scrape.
    pub fn report_pool(&self) {
        let open = self.inner.conns.size() + self.inner.exclusive.size();
        metrics::pool(open, self.inner.in_flight.now());
    }
}

/// Sends the batches that leave on a task of their own (`lanes.rs`).
impl Carrier for Inner {
    fn carry(self: Arc<Self>, turn: Turn, calls: Vec<Call>) -> BoxFuture<'static, Sent> {
        let engine = Engine { inner: self };
        let lane = turn.lane().clone();
        Box::pin(async move {
            let sent = engine.send(
                &lane.queue,
                lane.script,
                &calls,
                lane.replication,
                Some(turn),
            );
            sent.await
        })
    }
}
