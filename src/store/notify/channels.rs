//! The listeners of each channel, and what a message wakes. Listeners are registered and
//! removed under the one `channels` lock; waking is `Notify::notify_one`, which keeps the wake
//! for a listener that is not waiting yet (so a wake that comes before the wait counts).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use super::{Command, Inner};
use crate::model::Labels;

/// How long a new listener waits for its channel's subscription to be confirmed before it
/// relies on re-checking instead.
const SUBSCRIBE_WAIT: Duration = Duration::from_millis(500);

/// One channel's listeners and what is known about it.
#[derive(Default)]
pub(super) struct Channel {
    /// Lease waiters, first come first served.
    lease: VecDeque<LeaseWaiter>,
    /// Watchers per task id.
    tasks: HashMap<String, Vec<(u64, Arc<Wake>)>>,
    /// The subscription is confirmed on the current connection.
    pub(super) subscribed: bool,
    /// Signalled when it is: listeners that came while it was pending wait for it.
    confirmation: Arc<Notify>,
    /// Messages dispatched on this channel so far.
    seen: u64,
    /// A lease attempt found the queue empty when `seen` was this, at this time.
    empty: Option<(u64, Instant)>,
}

impl Channel {
    fn is_empty(&self) -> bool {
        self.lease.is_empty() && self.tasks.is_empty()
    }

    pub(super) fn known_empty(&self, trusted_for: Duration) -> bool {
        self.subscribed
            && self
                .empty
                .is_some_and(|(seen, at)| seen == self.seen && at.elapsed() < trusted_for)
    }

    pub(super) fn note_empty(&mut self, seen_at_start: u64) {
        if self.subscribed && self.seen == seen_at_start {
            self.empty = Some((self.seen, Instant::now()));
        }
    }

    /// The subscription is confirmed: listeners waiting for that are told.
    pub(super) fn confirm(&mut self) {
        self.subscribed = true;
        self.confirmation.notify_waiters();
    }

    /// The connection dropped: nothing here is confirmed or known any more.
    pub(super) fn forget(&mut self) {
        self.subscribed = false;
        self.empty = None;
    }

    /// Wakes the first lease waiter, if any; true when there was one.
    fn wake_next_waiter(&mut self) -> bool {
        match self.lease.pop_front() {
            Some(waiter) => {
                waiter.wake.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes the first `n` lease waiters whose labels satisfy `rset` (a task's requirements,
    /// canonical): the others could not take the task and sleep on.
    fn wake_waiters_for(&mut self, n: usize, rset: &str) {
        let mut woken = 0;
        self.lease.retain(|waiter| {
            let fits = woken < n && waiter.labels.as_ref().is_some_and(|l| l.satisfy(rset));
            if fits {
                waiter.wake.wake_for(rset);
                woken += 1;
            }
            !fits
        });
    }

    /// Wakes everyone (after a reconnect, what they wait for may already have happened).
    pub(super) fn wake_all(&self) {
        for waiter in &self.lease {
            waiter.wake.wake();
        }
        for (_, watcher) in self.tasks.values().flatten() {
            watcher.wake();
        }
    }

    /// Wakes the listeners a message concerns.
    pub(super) fn dispatch(&mut self, message: &str) {
        self.seen += 1;
        self.empty = None;
        let mut tokens = message.split(' ').peekable();
        while let Some(token) = tokens.next() {
            match token {
                "r" => {
                    let ready: usize = tokens.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                    for _ in 0..ready {
                        if !self.wake_next_waiter() {
                            break;
                        }
                    }
                }
                "R" => {
                    // "R <n> <requirements>": n tasks that require those labels became ready.
                    let ready: usize = tokens.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                    self.wake_waiters_for(ready, tokens.next().unwrap_or(""));
                }
                "s" => {
                    // "s <n>": n slots freed (a batch of acks); a bare "s" (an older
                    // instance) is one.
                    let slots = match tokens.peek().and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) => {
                            tokens.next();
                            n
                        }
                        None => 1,
                    };
                    for _ in 0..slots {
                        if !self.wake_next_waiter() {
                            break;
                        }
                    }
                }
                "q" => {
                    // Every call waiting with this request id: they answer the recorded leases.
                    let request = tokens.next().unwrap_or("");
                    self.lease.retain(|waiter| {
                        let same = waiter.request.as_deref() == Some(request);
                        if same {
                            waiter.wake.wake();
                        }
                        !same
                    });
                }
                "t" => {
                    let task = tokens.next().unwrap_or("");
                    for (_, watcher) in self.tasks.get(task).into_iter().flatten() {
                        watcher.wake();
                    }
                }
                _ => {}
            }
        }
    }
}

/// A waiting lease call: its place, its wake-up, its `request_id` (hex, as the scripts
/// publish it) and its worker's labels, if it has them.
struct LeaseWaiter {
    id: u64,
    wake: Arc<Wake>,
    request: Option<String>,
    labels: Option<Arc<Labels>>,
}

/// One listener's wake-up, and whether it was woken and whether it took the wake.
#[derive(Default)]
struct Wake {
    notify: Notify,
    woken: AtomicBool,
    taken: AtomicBool,
    /// The requirements of the task it was woken for, when they need labels: a wake passed on
    /// goes to a waiter that has them too.
    needs: std::sync::Mutex<Option<String>>,
}

impl Wake {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Wakes it for a task that requires `rset`.
    fn wake_for(&self, rset: &str) {
        if let Ok(mut needs) = self.needs.lock() {
            *needs = Some(rset.to_owned());
        }
        self.wake();
    }
}

/// What a listener waits for.
pub(super) enum Interest {
    /// Work to lease (that these labels can take); or leases recorded under this (hex)
    /// request id by another call.
    Ready(Option<String>, Option<Arc<Labels>>),
    Task(String),
}

/// One waiter's place. Dropping it (a request ends, a client goes away) removes it.
pub struct Listener {
    inner: Arc<Inner>,
    channel: String,
    interest: Interest,
    id: u64,
    wake: Arc<Wake>,
    /// The channel's message count when this listener was registered.
    seen_at_start: u64,
    /// The channel's subscription was confirmed when this listener started listening.
    confirmed: bool,
}

impl Listener {
    /// Registers a listener, then waits (a little) for its channel's subscription to be
    /// confirmed when it is new.
    pub(super) async fn register(inner: &Arc<Inner>, channel: String, interest: Interest) -> Self {
        let wake = Arc::new(Wake::default());
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut confirming = None;
        let mut pending = None;
        let mut listener = Self {
            inner: inner.clone(),
            channel: channel.clone(),
            interest,
            id,
            wake: wake.clone(),
            seen_at_start: 0,
            confirmed: false,
        };
        if let Ok(mut channels) = inner.channels.lock() {
            let entry = channels.entry(channel.clone()).or_insert_with(|| {
                let (ack, done) = oneshot::channel();
                let _ = inner.commands.send(Command::Subscribe(channel, ack));
                confirming = Some(done);
                Channel::default()
            });
            match &listener.interest {
                Interest::Ready(request, labels) => entry.lease.push_back(LeaseWaiter {
                    id,
                    wake,
                    request: request.clone(),
                    labels: labels.clone(),
                }),
                Interest::Task(task) => entry
                    .tasks
                    .entry(task.clone())
                    .or_default()
                    .push((id, wake)),
            }
            listener.seen_at_start = entry.seen;
            listener.confirmed = entry.subscribed;
            if !entry.subscribed && confirming.is_none() {
                // Another listener's subscription of this channel is on its way: wait for it
                // too (enabled before the lock is released, so its signal cannot be missed).
                let mut waiting = Box::pin(entry.confirmation.clone().notified_owned());
                waiting.as_mut().enable();
                pending = Some(waiting);
            }
        }
        // Until the subscription is confirmed a message could pass unseen: wait a little for
        // it; a listener left unconfirmed re-checks often instead.
        if let Some(done) = confirming {
            let confirmed = tokio::time::timeout(SUBSCRIBE_WAIT, done).await;
            listener.confirmed = matches!(confirmed, Ok(Ok(())));
        } else if let Some(waiting) = pending {
            let _ = tokio::time::timeout(SUBSCRIBE_WAIT, waiting).await;
            listener.confirmed = listener.with_channel(|channel| channel.subscribed);
        }
        listener
    }

    /// Resolves when this listener is woken (a wake that came before the call counts).
    pub async fn notified(&self) {
        self.wake.notify.notified().await;
        self.wake.taken.store(true, Ordering::Release);
    }

    /// Whether no message for this listener could have passed unseen since it started
    /// listening: its subscription was confirmed by then.
    pub fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// Whether messages for this listener can be trusted to arrive: its subscription was
    /// confirmed and the connection is up now.
    pub fn trusted(&self) -> bool {
        self.confirmed && self.inner.health.borrow().up
    }

    pub(super) fn seen_at_start(&self) -> u64 {
        self.seen_at_start
    }

    /// Runs `f` on this listener's channel (false when it is gone).
    pub(super) fn with_channel(&self, f: impl FnOnce(&mut Channel) -> bool) -> bool {
        let Ok(mut channels) = self.inner.channels.lock() else {
            return false;
        };
        channels.get_mut(&self.channel).is_some_and(f)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let Ok(mut channels) = self.inner.channels.lock() else {
            return;
        };
        let Some(channel) = channels.get_mut(&self.channel) else {
            return;
        };
        match &self.interest {
            Interest::Ready(..) => {
                channel.lease.retain(|w| w.id != self.id);
                // Woken for a ready task but gone before it looked: the wake is passed on, so
                // the task is not left waiting for the next check of a waiter never woken.
                let woken = self.wake.woken.load(Ordering::Acquire);
                if woken && !self.wake.taken.load(Ordering::Acquire) {
                    let needs = self.wake.needs.lock().ok().and_then(|mut n| n.take());
                    match needs {
                        Some(rset) => channel.wake_waiters_for(1, &rset),
                        None => {
                            channel.wake_next_waiter();
                        }
                    }
                }
            }
            Interest::Task(task) => {
                if let Some(watchers) = channel.tasks.get_mut(task) {
                    watchers.retain(|(id, _)| *id != self.id);
                    if watchers.is_empty() {
                        channel.tasks.remove(task);
                    }
                }
            }
        }
        if channel.is_empty() {
            channels.remove(&self.channel);
            let _ = self
                .inner
                .commands
                .send(Command::Unsubscribe(self.channel.clone()));
        }
    }
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
