//! Waking waiters at once: long-polling workers, result waiters and task event streams.
//!
//! Every script publishes what it changed on its queue's `events` channel (see `reply` in
//! `scripts/prelude/base.lua`): `r <n>` n tasks became ready, `s` a lease ended or limits
//! changed, `t <id>` a task changed state. Each instance keeps ONE pub/sub connection,
//! subscribed only to the channels of queues that have waiters here, and fans messages out in
//! process: a waiting request holds no Redis connection at all.
//!
//! - Lease waiters are woken first come, first served, and only as many as tasks became ready
//!   (one for a freed slot), so a submit never sends a herd of workers to Redis for nothing.
//! - Watchers of a task are all woken when it changes.
//! - Lease calls waiting with a `request_id` are woken when another call leases under the same
//!   id (a client that retried while its first call still waited): they answer its leases.
//! - A message can be lost (a reconnect, a subscription not yet confirmed): waiters also
//!   re-check on a timer, so a lost message costs latency, never a stuck worker. After a
//!   reconnect every waiter is woken to check.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};

use super::endpoint::Endpoint;

/// How long a new listener waits for its channel's subscription to be confirmed before it
/// relies on its timer instead.
const SUBSCRIBE_WAIT: Duration = Duration::from_millis(500);
/// Pause before the first attempt to reopen the pub/sub connection after a failure; it doubles
/// with each failure in a row (a refused subscription included), up to `RECONNECT_MAX`.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// The instance's pub/sub fan-out. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    channels: Mutex<HashMap<String, Listeners>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Listeners {
    /// Lease waiters, first come first served.
    lease: VecDeque<LeaseWaiter>,
    /// Watchers per task id.
    tasks: HashMap<String, Vec<(u64, Arc<Notify>)>>,
}

impl Listeners {
    fn is_empty(&self) -> bool {
        self.lease.is_empty() && self.tasks.is_empty()
    }
}

/// A waiting lease call: its place, its wake-up, and its `request_id` (hex, as the scripts
/// publish it), if it has one.
struct LeaseWaiter {
    id: u64,
    notify: Arc<Notify>,
    request: Option<String>,
}

enum Command {
    Subscribe(String, oneshot::Sender<()>),
    Unsubscribe(String),
}

/// What a listener waits for.
enum Interest {
    /// Work to lease; or leases recorded under this (hex) request id by another call.
    Ready(Option<String>),
    Task(String),
}

/// One waiter's place. Dropping it (a request ends, a client goes away) removes it.
pub struct Listener {
    inner: Arc<Inner>,
    channel: String,
    interest: Interest,
    id: u64,
    notify: Arc<Notify>,
}

impl Listener {
    /// Resolves when this listener is woken (a wake that came before the call counts).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let Ok(mut channels) = self.inner.channels.lock() else {
            return;
        };
        let Some(listeners) = channels.get_mut(&self.channel) else {
            return;
        };
        match &self.interest {
            Interest::Ready(_) => listeners.lease.retain(|w| w.id != self.id),
            Interest::Task(task) => {
                if let Some(watchers) = listeners.tasks.get_mut(task) {
                    watchers.retain(|(id, _)| *id != self.id);
                    if watchers.is_empty() {
                        listeners.tasks.remove(task);
                    }
                }
            }
        }
        if listeners.is_empty() {
            channels.remove(&self.channel);
            let _ = self
                .inner
                .commands
                .send(Command::Unsubscribe(self.channel.clone()));
        }
    }
}

impl Notifier {
    /// Starts the instance's pub/sub connection (opened lazily, reopened when lost).
    pub fn start(endpoint: Arc<Endpoint>) -> Result<Self, String> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            commands,
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        tokio::spawn(run(endpoint, Arc::downgrade(&inner), receiver));
        Ok(Self { inner })
    }

    /// A place among the lease waiters of `channel`, for a call with `request_id`, if any.
    pub async fn listen_ready(&self, channel: String, request_id: Option<&str>) -> Listener {
        let request = request_id.map(|id| id.bytes().map(|b| format!("{b:02x}")).collect());
        self.listen(channel, Interest::Ready(request)).await
    }

    /// A place among the watchers of task `id` on `channel`.
    pub async fn listen_task(&self, channel: String, id: String) -> Listener {
        self.listen(channel, Interest::Task(id)).await
    }

    async fn listen(&self, channel: String, interest: Interest) -> Listener {
        let notify = Arc::new(Notify::new());
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut confirmed = None;
        if let Ok(mut channels) = self.inner.channels.lock() {
            let listeners = channels.entry(channel.clone()).or_insert_with(|| {
                let (ack, done) = oneshot::channel();
                let _ = self
                    .inner
                    .commands
                    .send(Command::Subscribe(channel.clone(), ack));
                confirmed = Some(done);
                Listeners::default()
            });
            match &interest {
                Interest::Ready(request) => listeners.lease.push_back(LeaseWaiter {
                    id,
                    notify: notify.clone(),
                    request: request.clone(),
                }),
                Interest::Task(task) => listeners
                    .tasks
                    .entry(task.clone())
                    .or_default()
                    .push((id, notify.clone())),
            }
        }
        if let Some(done) = confirmed {
            // Until the subscription is confirmed a message could pass unseen: wait a little
            // for it, and rely on the re-check timer if Redis is slow.
            let _ = tokio::time::timeout(SUBSCRIBE_WAIT, done).await;
        }
        Listener {
            inner: self.inner.clone(),
            channel,
            interest,
            id,
            notify,
        }
    }
}

impl Inner {
    /// Wakes the listeners a message concerns.
    fn dispatch(&self, channel: &str, message: &str) {
        let Ok(mut channels) = self.channels.lock() else {
            return;
        };
        let Some(listeners) = channels.get_mut(channel) else {
            return;
        };
        let mut tokens = message.split(' ');
        while let Some(token) = tokens.next() {
            match token {
                "r" => {
                    let ready: usize = tokens.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                    for _ in 0..ready {
                        let Some(waiter) = listeners.lease.pop_front() else {
                            break;
                        };
                        waiter.notify.notify_one();
                    }
                }
                "s" => {
                    if let Some(waiter) = listeners.lease.pop_front() {
                        waiter.notify.notify_one();
                    }
                }
                "q" => {
                    // Every call waiting with this request id: they answer the recorded leases.
                    let request = tokens.next().unwrap_or("");
                    listeners.lease.retain(|waiter| {
                        let same = waiter.request.as_deref() == Some(request);
                        if same {
                            waiter.notify.notify_one();
                        }
                        !same
                    });
                }
                "t" => {
                    let task = tokens.next().unwrap_or("");
                    for (_, watcher) in listeners.tasks.get(task).into_iter().flatten() {
                        watcher.notify_one();
                    }
                }
                _ => {}
            }
        }
    }

    /// Wakes everyone (after a reconnect, what they wait for may already have happened).
    fn wake_all(&self) {
        let Ok(channels) = self.channels.lock() else {
            return;
        };
        for listeners in channels.values() {
            for waiter in &listeners.lease {
                waiter.notify.notify_one();
            }
            for (_, watcher) in listeners.tasks.values().flatten() {
                watcher.notify_one();
            }
        }
    }

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
}

/// The pub/sub connection's life: connect, subscribe to every wanted channel, then serve
/// subscribe commands and dispatch messages until the connection is lost; then again, after a
/// pause that grows with each failure in a row (a refused `SUBSCRIBE` counts: an ACL without
/// channel rights, a node that drops us), so trouble never turns into a storm of connections.
/// Ends when the notifier is dropped.
async fn run(
    endpoint: Arc<Endpoint>,
    inner: std::sync::Weak<Inner>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    // Failures in a row; also picks the cluster node to try (each failure moves to the next).
    let mut failures: u32 = 0;
    loop {
        if failures > 0 {
            tokio::time::sleep(reconnect_pause(failures)).await;
        }
        let Some(live) = inner.upgrade() else { return };
        let connection = match endpoint.pubsub(failures as usize).await {
            Ok(connection) => connection,
            Err(_) => {
                failures = failures.saturating_add(1);
                continue;
            }
        };
        let (mut sink, mut stream) = connection.split();
        let wanted = live.wanted();
        if !wanted.is_empty() && sink.subscribe(&wanted).await.is_err() {
            failures = failures.saturating_add(1);
            continue;
        }
        failures = 0;
        live.wake_all();
        drop(live);
        loop {
            let command = tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => command,
                    None => return,
                },
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let channel = message.get_channel_name().to_owned();
                    let payload: String = message.get_payload().unwrap_or_default();
                    if let Some(live) = inner.upgrade() {
                        live.dispatch(&channel, &payload);
                    }
                    continue;
                }
            };
            let result = match &command {
                Command::Subscribe(channel, _) => sink.subscribe(channel).await,
                Command::Unsubscribe(channel) => {
                    let still_wanted = inner.upgrade().is_some_and(|i| i.has_listeners(channel));
                    if still_wanted {
                        Ok(())
                    } else {
                        sink.unsubscribe(channel).await
                    }
                }
            };
            match (result, command) {
                (Ok(()), Command::Subscribe(_, ack)) => {
                    let _ = ack.send(());
                }
                (Ok(()), Command::Unsubscribe(_)) => {}
                // The connection failed: reconnect; a subscription still wanted is renewed
                // from the listeners, and its waiter is woken then.
                (Err(_), _) => break,
            }
        }
        failures = failures.saturating_add(1);
    }
}

/// The pause before the next attempt after `failures` failures in a row.
fn reconnect_pause(failures: u32) -> Duration {
    let doubled = RECONNECT_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(RECONNECT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_pauses_double_up_to_a_cap() {
        let pauses: Vec<u64> = (1..=9)
            .map(|n| reconnect_pause(n).as_millis() as u64)
            .collect();
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(reconnect_pause(u32::MAX), RECONNECT_MAX);
    }
}
