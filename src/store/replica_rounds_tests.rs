//! The rounds on their own, with a sender that sends nothing (no Redis) and answers each round
//! when the test lets it: who shares a round, how long a round waits, who is left out, and
//! what a failed round does.

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::*;

/// Records each round it is asked to send and answers it, with the number of replicas it
/// asked for, once the test adds a permit to `go`; with `panic_once` set, panics instead,
/// once.
struct Gated {
    rounds: StdMutex<Vec<Replication>>,
    go: Semaphore,
    panic_once: AtomicBool,
}

impl Gated {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            rounds: StdMutex::new(Vec::new()),
            go: Semaphore::new(0),
            panic_once: AtomicBool::new(false),
        })
    }

    fn sent(&self) -> Vec<Replication> {
        self.rounds.lock().expect("rounds").clone()
    }

    /// Waits until `n` rounds have been sent.
    async fn until_sent(&self, n: usize) {
        while self.sent().len() < n {
            tokio::task::yield_now().await;
        }
    }
}

impl RoundSender for Gated {
    fn send_round(
        self: Arc<Self>,
        _: QueueName,
        replication: Replication,
    ) -> BoxFuture<'static, Result<u32, StoreError>> {
        Box::pin(async move {
            self.rounds.lock().expect("rounds").push(replication);
            self.go.acquire().await.expect("open").forget();
            let panics = self.panic_once.swap(false, Ordering::Relaxed);
            assert!(!panics, "a round that panics");
            Ok(replication.replicas)
        })
    }
}

fn asking(replicas: u32, timeout_ms: u64) -> Replication {
    Replication {
        replicas,
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// Starts a wait of `queue` on its own task.
fn confirm(
    rounds: &Arc<ReplicaRounds>,
    sender: &Arc<Gated>,
    queue: &str,
    replication: Replication,
) -> JoinHandle<Result<u32, StoreError>> {
    let (rounds, sender) = (rounds.clone(), sender.clone());
    let queue = QueueName::parse(queue).expect("name");
    tokio::spawn(async move { rounds.confirm(sender, &queue, replication).await })
}

/// Lets every task that can run do so.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn writes_that_ask_while_a_round_is_on_its_way_share_the_next_one() {
    let (rounds, sender) = (Arc::new(ReplicaRounds::default()), Gated::new());
    let first = confirm(&rounds, &sender, "q", asking(1, 60_000));
    sender.until_sent(1).await;
    let later: Vec<_> = (0..5)
        .map(|_| confirm(&rounds, &sender, "q", asking(2, 60_000)))
        .collect();
    settle().await;
    assert_eq!(
        sender.sent().len(),
        1,
        "the later writes wait for the next round"
    );
    sender.go.add_permits(1);
    assert_eq!(first.await.expect("join").expect("confirmed"), 1);
    sender.until_sent(2).await;
    sender.go.add_permits(1);
    for waiting in later {
        assert_eq!(waiting.await.expect("join").expect("confirmed"), 2);
    }
    assert_eq!(sender.sent().len(), 2, "five writes, one round");
    assert!(rounds.lock().is_empty(), "no round is left on its way");
}

#[tokio::test]
async fn a_round_waits_no_longer_than_its_most_hurried_member_may() {
    let (rounds, sender) = (Arc::new(ReplicaRounds::default()), Gated::new());
    let first = confirm(&rounds, &sender, "q", asking(1, 60_000));
    sender.until_sent(1).await;
    let patient = confirm(&rounds, &sender, "q", asking(1, 60_000));
    let hurried = confirm(&rounds, &sender, "q", asking(1, 500));
    settle().await;
    sender.go.add_permits(2);
    first.await.expect("join").expect("confirmed");
    patient.await.expect("join").expect("confirmed");
    hurried.await.expect("join").expect("confirmed");
    let sent = sender.sent();
    // The first round had one member, with (nearly) all of its minute left.
    assert!(
        sent[0].timeout > Duration::from_secs(59),
        "{:?}",
        sent[0].timeout
    );
    assert!(
        sent[1].timeout <= Duration::from_millis(500),
        "the second round waits {:?}",
        sent[1].timeout
    );
}

#[tokio::test]
async fn a_round_whose_writes_all_went_away_is_not_sent() {
    let (rounds, sender) = (Arc::new(ReplicaRounds::default()), Gated::new());
    let first = confirm(&rounds, &sender, "q", asking(1, 60_000));
    sender.until_sent(1).await;
    let gone = confirm(&rounds, &sender, "q", asking(1, 60_000));
    settle().await;
    gone.abort();
    settle().await;
    sender.go.add_permits(1);
    first.await.expect("join").expect("confirmed");
    settle().await;
    assert_eq!(sender.sent().len(), 1, "nobody waited for a second round");
    assert!(rounds.lock().is_empty());
}

#[tokio::test]
async fn queues_have_rounds_of_their_own() {
    let (rounds, sender) = (Arc::new(ReplicaRounds::default()), Gated::new());
    let a = confirm(&rounds, &sender, "a", asking(1, 60_000));
    let b = confirm(&rounds, &sender, "b", asking(1, 60_000));
    sender.until_sent(2).await;
    sender.go.add_permits(2);
    a.await.expect("join").expect("confirmed");
    b.await.expect("join").expect("confirmed");
}

#[tokio::test]
async fn writes_waiting_for_a_round_that_panicked_get_an_error_and_the_next_write_starts_anew() {
    let (rounds, sender) = (Arc::new(ReplicaRounds::default()), Gated::new());
    sender.panic_once.store(true, Ordering::Relaxed);
    let first = confirm(&rounds, &sender, "q", asking(1, 60_000));
    sender.until_sent(1).await;
    let next = confirm(&rounds, &sender, "q", asking(1, 60_000));
    settle().await;
    sender.go.add_permits(1);
    assert!(first.await.expect("join").is_err());
    assert!(next.await.expect("join").is_err());
    assert!(rounds.lock().is_empty(), "the queue was removed");
    let again = confirm(&rounds, &sender, "q", asking(1, 60_000));
    sender.go.add_permits(1);
    assert_eq!(again.await.expect("join").expect("confirmed"), 1);
    assert_eq!(sender.sent().len(), 2);
}
