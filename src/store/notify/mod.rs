//! Waking waiters at once: long-polling workers, result waiters and task event streams.
//!
//! Every script publishes what it changed on its queue's `events` channel (see `reply` in
//! `prelude/base.lua`): `r <n>` n tasks became ready, `s` a lease ended or limits
//! changed, `t <id>` a task changed state, `q <hex>` a lease call recorded leases under a
//! request id. Each instance keeps ONE pub/sub connection, subscribed only to the channels of
//! queues that have waiters here, and fans messages out in process: a waiting request holds no
//! Redis connection at all.
//!
//! - Lease waiters are woken first come, first served, and only as many as tasks became ready
//!   (one for a freed slot), so a submit never sends a herd of workers to Redis for nothing. A
//!   waiter that was woken but went away before it looked passes its wake on to the next.
//! - Watchers of a task are all woken when it changes.
//! - Lease calls waiting with a `request_id` are woken when another call leases under the same
//!   id (a client that retried while its first call still waited): they answer its leases.
//!
//! Trust, and when to check anyway: while the connection is up and a channel's subscription is
//! confirmed, a message cannot pass unseen (Redis delivers pub/sub in order on a live
//! connection; a subscriber that falls behind is disconnected, which is seen). So waiters check
//! Redis again only when told something changed, when the connection drops or comes back
//! (`Health`), or on a long safety interval; only waiters whose subscription is not confirmed
//! re-check often. A channel also remembers that a lease attempt found its queue empty with no
//! message since (`known_empty`), so a new long-poll can skip asking Redis again.

mod channels;
mod connection;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::endpoint::Endpoint;
use crate::model::Labels;
use channels::Channel;
pub use channels::Listener;

/// How long "this queue was found empty" is trusted without any message. A queue becomes
/// ready by time alone (a due retry, an expired lease) until a sweep settles it and says so;
/// this bounds how long a new long-poll may rely on the memory instead of asking.
const EMPTY_TRUSTED_FOR: Duration = Duration::from_secs(1);

/// Whether the pub/sub connection is up, and how many times it has been (re)established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub up: bool,
    pub generation: u64,
}

/// The instance's pub/sub fan-out. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    channels: Mutex<HashMap<String, Channel>>,
    next_id: AtomicU64,
    health: watch::Sender<Health>,
}

enum Command {
    Subscribe(String, tokio::sync::oneshot::Sender<()>),
    Unsubscribe(String),
}

impl Notifier {
    /// Starts the instance's pub/sub connection (opened lazily, reopened when lost).
    pub fn start(endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            commands,
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            health: watch::Sender::new(Health::default()),
        });
        tokio::spawn(connection::run(endpoint, Arc::downgrade(&inner), receiver));
        Ok(Self { inner })
    }

    /// A place among the lease waiters of `channel`, for a call with `request_id` and
    /// `labels`, if any (a task that requires labels wakes only waiters that have them).
    pub async fn listen_ready(
        &self,
        channel: String,
        request_id: Option<&str>,
        labels: Option<Arc<Labels>>,
    ) -> Listener {
        let request = request_id.map(|id| id.bytes().map(|b| format!("{b:02x}")).collect());
        let interest = channels::Interest::Ready(request, labels);
        Listener::register(&self.inner, channel, interest).await
    }

    /// A place among the watchers of task `id` on `channel`.
    pub async fn listen_task(&self, channel: String, id: String) -> Listener {
        Listener::register(&self.inner, channel, channels::Interest::Task(id)).await
    }

    /// The connection's health now; `changed()` on it resolves when it goes down or up.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.inner.health.subscribe()
    }

    /// Whether a lease attempt found `listener`'s queue empty (with a confirmed subscription)
    /// within `EMPTY_TRUSTED_FOR`, and no message has come on its channel since.
    pub fn known_empty(&self, listener: &Listener) -> bool {
        listener.with_channel(|channel| channel.known_empty(EMPTY_TRUSTED_FOR))
    }

    /// A lease attempt made after `listener` was registered found its queue empty: remember
    /// it, unless a message came meanwhile (it may have been about a task the attempt missed).
    pub fn note_empty(&self, listener: &Listener) {
        listener.with_channel(|channel| {
            channel.note_empty(listener.seen_at_start());
            true
        });
    }
}

impl Inner {
    /// Dispatches one message to its channel's listeners.
    fn dispatch(&self, channel: &str, message: &str) {
        if let Ok(mut channels) = self.channels.lock() {
            if let Some(channel) = channels.get_mut(channel) {
                channel.dispatch(message);
            }
        }
    }

    /// The channels wanted now (those with listeners).
    fn wanted(&self) -> Vec<String> {
        self.channels
            .lock()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn has_listeners(&self, channel: &str) -> bool {
        self.channels
            .lock()
            .map(|c| c.contains_key(channel))
            .unwrap_or(false)
    }

    /// These channels' subscriptions are confirmed on the current connection.
    fn subscribed(&self, names: &[String]) {
        if let Ok(mut channels) = self.channels.lock() {
            for name in names {
                if let Some(channel) = channels.get_mut(name) {
                    channel.confirm();
                }
            }
        }
    }

    /// A connection is up with every wanted channel subscribed: waiters are told (what they
    /// wait for may have happened while it was down) and woken to look.
    fn up(&self, wanted: &[String]) {
        self.subscribed(wanted);
        self.health.send_modify(|health| {
            health.up = true;
            health.generation += 1;
        });
        if let Ok(channels) = self.channels.lock() {
            channels.values().for_each(Channel::wake_all);
        }
    }

    /// The connection is gone: no subscription is confirmed, nothing known holds.
    fn down(&self) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.values_mut().for_each(Channel::forget);
        }
        self.health
            .send_if_modified(|health| std::mem::replace(&mut health.up, false));
    }
}
