//! Natural batching (group commit): concurrent calls of one script for one queue travel to
//! Redis together, as one script call.
//!
//! Each (script, queue, replicated or not) has a lane. A call that finds its lane empty goes at
//! once, on the caller's own task: at low load nothing changes, there is no timer and no
//! window. A call that finds a script of its lane already on its way to Redis waits in line;
//! when that script has run, everyone waiting (up to the batch bounds, in arrival order)
//! leaves together in the next one, on a task of its own, and gets exactly its own reply. So
//! under load the frame of a script call (the `FCALL`, the frame, the policy read, the
//! clock, the round trip, a replicated write's `WAIT`) is paid once per batch, not per call.
//! - The lane is handed on as soon as Redis has answered the script, before a replicated
//!   batch's `WAIT`: the next batch runs its script while the one before waits for its
//!   replicas (each `WAIT`, on a connection of its own, covers every write made before it:
//!   `Conn::wait_replicas`). At most `REPLICA_WAITS_PER_LANE` batches of one lane wait for
//!   replicas at once; past that, a batch keeps its turn through its `WAIT`, so one lane holds
//!   only so many of the connections replicated writes wait on.
//!
//! - A lane is one queue's, and every key of a queue shares its Cluster slot, so a batch runs
//!   in one slot; one queue's burst never delays another queue's calls.
//! - A waiting caller that goes away (its client disconnected) before its batch leaves is left
//!   out of it: a lease that was never sent leases nothing. Once a batch has left, it runs to
//!   its end on its own task, whoever is still listening.
//! - Whatever ends a call that is on its way (an answer, an error, the caller dropping it, a
//!   panic), the lane is handed on: the next batch leaves or the lane is removed, so no caller
//!   can be left waiting behind a call that is gone.

use std::collections::VecDeque;
use std::collections::hash_map::{Entry, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use deadpool_redis::redis::Value;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::op::{Args, Op};
use super::script::{ScriptDef, ScriptId};
use super::{Replication, StoreError};
use crate::metrics;
use crate::model::QueueName;

/// The most work one batch carries (tasks submitted, leased or acked): `BATCH_ITEMS_MAX`, the
/// bound of one script call (SPEC §3). A single call larger than this still goes, alone.
const BATCH_WEIGHT_MAX: usize = super::BATCH_ITEMS_MAX;
/// The most argument bytes one batch carries (payloads, results), for the same reason.
const BATCH_BYTES_MAX: usize = 1 << 20;
/// The most batches of one lane waiting for their replicas (`WAIT`) after handing the lane
/// on; one more may wait holding its turn.
const REPLICA_WAITS_PER_LANE: usize = 2;

/// One call: its script arguments and the work it adds to a batch.
pub struct Call {
    pub args: Vec<Vec<u8>>,
    pub weight: usize,
}

impl Call {
    fn bytes(&self) -> usize {
        self.args.iter().map(Vec::len).sum()
    }
}

/// Whether a call may join its op's lane (natural batching) or goes past it, alone.
#[derive(Clone, Copy)]
pub enum Lane {
    Join,
    Past,
}

/// One call of `op`: its arguments, and the work it adds to a batch.
pub fn call_of<O: Op>(op: &O, weight: usize) -> Call {
    let mut call = Call {
        args: Vec::new(),
        weight,
    };
    op.args(&mut Args(&mut call.args));
    call
}

/// The reply of a script call's only (or first) call.
pub fn first((replies, confirmed): (Vec<Value>, u32)) -> (Value, u32) {
    (replies.into_iter().next().unwrap_or(Value::Nil), confirmed)
}

/// A call's answer: its own reply, and how many replicas confirmed its batch (0 unasked).
pub type Answer = Result<(Value, u32), StoreError>;

/// The replies to a batch's calls, in order, and how many replicas confirmed it.
pub type Sent = Result<(Vec<Value>, u32), StoreError>;

/// What sends a batch that left on a task of its own: one script call carrying `calls`. It
/// gives `turn` back (`Turn::script_ran`) once Redis has answered the script.
pub trait Carrier: Send + Sync + 'static {
    fn carry(self: Arc<Self>, turn: Turn, calls: Vec<Call>) -> BoxFuture<'static, Sent>;
}

/// Which calls may travel together, and all a batch needs to be sent.
#[derive(Clone)]
pub struct LaneKey {
    pub script: &'static ScriptDef,
    pub queue: QueueName,
    pub replication: Option<Replication>,
}

impl PartialEq for LaneKey {
    fn eq(&self, other: &Self) -> bool {
        // Variants of one Lua file (with and without `allow-oom`) never share a batch.
        ScriptId::of(self.script) == ScriptId::of(other.script)
            && self.queue == other.queue
            && self.replication.is_some() == other.replication.is_some()
    }
}

impl Eq for LaneKey {}

impl std::hash::Hash for LaneKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        ScriptId::of(self.script).hash(state);
        self.queue.as_str().hash(state);
        self.replication.is_some().hash(state);
    }
}

/// A call waiting for the script on its way to be answered.
struct Waiting {
    call: Call,
    answer: oneshot::Sender<Answer>,
}

/// How a call joined its lane.
pub enum Joined {
    /// The lane was empty: send the call now, giving the turn back once the script ran
    /// (`Turn::script_ran`; dropping the turn, however the call ends, hands the lane on).
    Lead(Turn, Call),
    /// A script of the lane is on its way: this call leaves with the next batch.
    Wait(Waiter),
}

/// Every lane with a script on its way; a lane is in the map exactly while it has one.
#[derive(Default)]
pub struct Lanes {
    lanes: Mutex<HashMap<LaneKey, VecDeque<Waiting>>>,
    /// How many batches of each lane wait for their replicas after handing the lane on; a lane
    /// is in the map exactly while one does.
    replica_waits: Mutex<HashMap<LaneKey, usize>>,
}

impl Lanes {
    /// Joins `call` to its lane. `carrier` sends the batches that leave after this call's turn.
    pub fn join(self: &Arc<Self>, carrier: Arc<dyn Carrier>, lane: LaneKey, call: Call) -> Joined {
        let mut lanes = self.lock();
        match lanes.entry(lane) {
            Entry::Occupied(mut waiting) => {
                let (answer, answered) = oneshot::channel();
                waiting.get_mut().push_back(Waiting { call, answer });
                metrics::batch_waiting(1.0);
                Joined::Wait(Waiter(answered))
            }
            Entry::Vacant(empty) => {
                let lane = empty.key().clone();
                empty.insert(VecDeque::new());
                let turn = Turn {
                    lanes: self.clone(),
                    lane,
                    carrier,
                    unavailable: None,
                };
                Joined::Lead(turn, call)
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<LaneKey, VecDeque<Waiting>>> {
        unpoisoned(&self.lanes)
    }

    /// Counts a batch of `lane` that will wait for its replicas after handing the lane on, if
    /// fewer than `REPLICA_WAITS_PER_LANE` do now. Whether it was counted.
    fn replica_wait_began(&self, lane: &LaneKey) -> bool {
        let mut waits = unpoisoned(&self.replica_waits);
        let n = waits.entry(lane.clone()).or_default();
        if *n >= REPLICA_WAITS_PER_LANE {
            return false;
        }
        *n += 1;
        true
    }

    fn replica_wait_ended(&self, lane: &LaneKey) {
        let mut waits = unpoisoned(&self.replica_waits);
        if let Entry::Occupied(mut n) = waits.entry(lane.clone()) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
    }

    /// Fails every call waiting in `lane` with `err`, and removes the lane.
    fn fail_waiting(&self, lane: &LaneKey, err: &StoreError) {
        let waiting = self.lock().remove(lane).unwrap_or_default();
        for waiter in waiting {
            let _ = waiter.answer.send(Err(err.clone()));
        }
    }

    /// The next batch of `lane`: its waiting calls in arrival order, those whose caller went
    /// away left out, within the bounds. `None` (and the lane removed) when none waits.
    fn next_batch(&self, lane: &LaneKey) -> Option<Vec<Waiting>> {
        let mut lanes = self.lock();
        let waiting = lanes.get_mut(lane)?;
        let (mut batch, mut weight, mut bytes) = (Vec::new(), 0, 0);
        while let Some(next) = waiting.front() {
            if next.answer.is_closed() {
                waiting.pop_front();
                continue;
            }
            let (w, b) = (next.call.weight, next.call.bytes());
            if !batch.is_empty() && (weight + w > BATCH_WEIGHT_MAX || bytes + b > BATCH_BYTES_MAX) {
                break;
            }
            weight += w;
            bytes += b;
            batch.extend(waiting.pop_front());
        }
        if batch.is_empty() {
            lanes.remove(lane);
            return None;
        }
        Some(batch)
    }
}

/// A panic never leaves a map here half-changed (each change is one std call), so a poisoned
/// lock is still sound to use.
fn unpoisoned<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A call waiting in its lane, counted in the `calls_waiting` gauge until it is answered or
/// dropped (dropping it takes the call out of any batch that has not left yet).
pub struct Waiter(oneshot::Receiver<Answer>);

impl Waiter {
    pub async fn answer(mut self) -> Answer {
        (&mut self.0).await.unwrap_or_else(|_| {
            Err(StoreError::Redis(
                "the batch this call travelled in ended without its answer".into(),
            ))
        })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        metrics::batch_waiting(-1.0);
    }
}

/// A lane's turn: a script call on its way. However it ends (an answer, an error, the caller
/// dropping it, a panic), dropping the turn hands the lane on: the next batch leaves on a task
/// of its own, or the lane is removed.
pub struct Turn {
    lanes: Arc<Lanes>,
    lane: LaneKey,
    carrier: Arc<dyn Carrier>,
    /// Set when the call found Redis unavailable: then the calls that waited for it fail with
    /// the same error at once instead of being sent after it (each would wait out its own
    /// timeout: a 503 must be fast), and the lane is removed.
    unavailable: Option<StoreError>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(err) = self.unavailable.take() {
            self.lanes.fail_waiting(&self.lane, &err);
            return;
        }
        let Some(batch) = self.lanes.next_batch(&self.lane) else {
            return;
        };
        let next = Turn {
            lanes: self.lanes.clone(),
            lane: self.lane.clone(),
            carrier: self.carrier.clone(),
            unavailable: None,
        };
        // Dropped outside a runtime (never in the server), the batch is dropped too: its
        // callers get an error instead of waiting forever.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(next.carry(batch));
        }
    }
}

impl Turn {
    /// The lane this turn is of.
    pub fn lane(&self) -> &LaneKey {
        &self.lane
    }

    /// Redis has answered the script on its way (`ran`): hands the lane on (the next batch
    /// leaves, or, when Redis was unavailable, the calls waiting fail with its error), unless
    /// the batch now waits for its replicas and `REPLICA_WAITS_PER_LANE` of its lane already
    /// do. Hold what this returns until that wait ends: dropping it then hands the lane on
    /// (when it was kept) or counts the wait as ended.
    pub fn script_ran<T>(mut self, ran: &Result<T, StoreError>) -> AfterScript {
        if let Err(err @ StoreError::Unavailable(_)) = ran {
            self.unavailable = Some(err.clone());
        }
        let waits = ran.is_ok() && self.lane.replication.is_some();
        let (mut counted, mut kept) = (None, None);
        if waits && self.lanes.replica_wait_began(&self.lane) {
            counted = Some(ReplicaWait(self.lanes.clone(), self.lane.clone()));
        } else if waits {
            kept = Some(self);
        }
        AfterScript {
            _counted: counted,
            _kept: kept,
        }
    }

    /// Sends one batch (the carrier hands the lane on) and hands each caller its own reply.
    async fn carry(self, batch: Vec<Waiting>) {
        metrics::batch_sent(batch.len());
        let (calls, answers): (Vec<Call>, Vec<_>) =
            batch.into_iter().map(|w| (w.call, w.answer)).unzip();
        let sent = self.carrier.clone().carry(self, calls).await;
        match sent {
            Ok((replies, confirmed)) => {
                for (answer, reply) in answers.into_iter().zip(replies) {
                    let _ = answer.send(Ok((reply, confirmed)));
                }
            }
            Err(err) => {
                for answer in answers {
                    let _ = answer.send(Err(err.clone()));
                }
            }
        }
    }
}

/// What a batch holds after its script ran, until its replicas' wait ends (`Turn::script_ran`),
/// for what dropping it does.
pub struct AfterScript {
    /// Its wait, counted, when it handed the lane on.
    _counted: Option<ReplicaWait>,
    /// The lane's turn, when it was kept through the wait.
    _kept: Option<Turn>,
}

/// A batch of a lane waiting for its replicas after handing the lane on; dropping it ends it.
pub struct ReplicaWait(Arc<Lanes>, LaneKey);

impl Drop for ReplicaWait {
    fn drop(&mut self) {
        self.0.replica_wait_ended(&self.1);
    }
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
