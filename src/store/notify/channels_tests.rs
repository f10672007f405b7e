//! Tests of `channels.rs`: which waiters a message wakes, and what a leaving waiter passes on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use tokio::sync::{mpsc, watch};

use super::*;
use crate::store::notify::Health;

/// A notifier's state with no connection behind it (subscriptions go unanswered).
fn offline() -> Arc<Inner> {
    Arc::new(Inner {
        commands: mpsc::unbounded_channel().0,
        channels: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        health: watch::Sender::new(Health::default()),
    })
}

async fn waiter(inner: &Arc<Inner>) -> Listener {
    Listener::register(inner, "queue".into(), Interest::Ready(None, None)).await
}

/// A ready task wakes one waiter; if that waiter goes away before it looks (its client
/// hung up), the next waiter is woken instead, so the task does not sit until a re-check.
#[tokio::test]
async fn a_woken_waiter_that_leaves_without_looking_passes_its_wake_on() {
    let inner = offline();
    let (first, second) = (waiter(&inner).await, waiter(&inner).await);
    inner.dispatch("queue", "r 1");
    drop(first);
    let passed = tokio::time::timeout(Duration::from_millis(200), second.notified()).await;
    assert!(passed.is_ok(), "the wake was not passed on");
}

/// A waiter that took its wake (and looked) passes nothing on when it goes.
#[tokio::test]
async fn a_waiter_that_looked_passes_nothing_on() {
    let inner = offline();
    let (first, second) = (waiter(&inner).await, waiter(&inner).await);
    inner.dispatch("queue", "r 1");
    first.notified().await;
    drop(first);
    let passed = tokio::time::timeout(Duration::from_millis(100), second.notified()).await;
    assert!(passed.is_err(), "a second waiter was woken for one task");
}

/// "s 2" (a batch of acks freed two slots) wakes two waiters, not one; a bare "s" (an
/// older instance) still wakes one, and what follows it is read as before.
#[tokio::test]
async fn freed_slots_wake_as_many_waiters() {
    let inner = offline();
    let waiters = [
        waiter(&inner).await,
        waiter(&inner).await,
        waiter(&inner).await,
    ];
    inner.dispatch("queue", "s 2");
    async fn woken(w: &Listener) -> bool {
        let notified = w.notified();
        tokio::time::timeout(Duration::from_millis(100), notified)
            .await
            .is_ok()
    }
    assert!(woken(&waiters[0]).await && woken(&waiters[1]).await);
    assert!(
        !woken(&waiters[2]).await,
        "a third waiter was woken for two slots"
    );
    inner.dispatch("queue", "s r 1");
    assert!(woken(&waiters[2]).await);
}

/// "R <n> <requirements>" wakes only waiters whose labels satisfy them, the first n of those,
/// in order; a waiter without labels sleeps on.
#[tokio::test]
async fn a_task_with_requirements_wakes_only_waiters_that_satisfy_them() {
    let inner = offline();
    let labelled = |pairs: &[(&str, &str)]| {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Some(Arc::new(Labels::parse(map).expect("labels")))
    };
    let register =
        |labels| Listener::register(&inner, "queue".into(), Interest::Ready(None, labels));
    let plain = register(None).await;
    let cpu = register(labelled(&[("region", "eu")])).await;
    let gpu = register(labelled(&[("gpu", "a100"), ("region", "eu")])).await;
    let gpu_too = register(labelled(&[("gpu", "a100")])).await;
    inner.dispatch("queue", "R 1 gpu=a100");
    async fn woken(w: &Listener) -> bool {
        tokio::time::timeout(Duration::from_millis(100), w.notified())
            .await
            .is_ok()
    }
    assert!(woken(&gpu).await, "the first GPU waiter was not woken");
    assert!(
        !woken(&gpu_too).await,
        "a second waiter was woken for one task"
    );
    assert!(!woken(&plain).await && !woken(&cpu).await);
}

/// A waiter woken for a task that needs labels, and gone before it looked, passes the wake to
/// the next waiter that has them, not to the first in line.
#[tokio::test]
async fn a_wake_for_labels_is_passed_on_to_a_waiter_with_them() {
    let inner = offline();
    let gpu = || {
        let map = [("gpu".to_owned(), "a100".to_owned())]
            .into_iter()
            .collect();
        Some(Arc::new(Labels::parse(map).expect("labels")))
    };
    let register =
        |labels| Listener::register(&inner, "queue".into(), Interest::Ready(None, labels));
    let first = register(gpu()).await;
    let plain = register(None).await;
    let second = register(gpu()).await;
    inner.dispatch("queue", "R 1 gpu=a100");
    drop(first);
    let passed = tokio::time::timeout(Duration::from_millis(200), second.notified()).await;
    assert!(
        passed.is_ok(),
        "the wake did not reach the second GPU waiter"
    );
    let plain_woken = tokio::time::timeout(Duration::from_millis(100), plain.notified()).await;
    assert!(
        plain_woken.is_err(),
        "the plain waiter was woken for a GPU task"
    );
}
