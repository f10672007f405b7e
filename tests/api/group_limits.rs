//! Per-group limits (SPEC §8), enforced inside the lease script and so across instances:
//! `groups.max_in_flight` (checked by looking inside Redis during the run), `groups.rate_limit`
//! (a token bucket per group on the Redis clock) and `groups.ordered` (one task of a group at a
//! time, in submit order, even when attempts fail and are retried).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::grouping::{group_of, leased_by_group, submit_group, tally};
use crate::harness::{RedisServer, TestApp, queue};

/// Two instances on the same Redis data.
async fn two_instances() -> (Arc<TestApp>, Arc<TestApp>) {
    let first = TestApp::start().await;
    let prefix = format!("--key-prefix={}", first.prefix);
    let second = TestApp::start_with(RedisServer::shared(), &[prefix.as_str()]).await;
    (Arc::new(first), Arc::new(second))
}

/// Samples, until `done`, how many tasks the group with the most has leased (each sample one
/// look inside Redis, so one instant's); answers the number of samples and the most seen.
fn most_leased_of_one_group(
    app: Arc<TestApp>,
    q: String,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u32, u64)> {
    tokio::spawn(async move {
        let (mut samples, mut most) = (0, 0);
        while !done.load(Ordering::Relaxed) {
            let counts = leased_by_group(RedisServer::shared(), &app, &q).await;
            most = most.max(counts.values().copied().max().unwrap_or(0));
            samples += 1;
        }
        (samples, most)
    })
}

/// 20 workers through two instances lease, work a few ms and ack 5 groups' tasks under
/// `groups.max_in_flight = 2`, while a sampler counts each group's leased tasks inside Redis
/// (one script, so each sample is one instant): no sample ever shows 3, and every task of
/// every group completes.
#[tokio::test]
async fn no_group_ever_has_more_leased_than_its_max_in_flight() {
    let (first, second) = two_instances().await;
    let q = queue("group-cap");
    first
        .patch_policy(&q, json!({"groups": {"max_in_flight": 2}}))
        .await;
    let groups = ["g0", "g1", "g2", "g3", "g4"];
    for g in groups {
        submit_group(&first, &q, Some(g), 30).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let sampler = most_leased_of_one_group(first.clone(), q.clone(), done.clone());
    let completed = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let workers: Vec<_> = (0..20)
        .map(|n| {
            let app = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let (q, completed) = (q.clone(), completed.clone());
            tokio::spawn(async move {
                loop {
                    let leases = app.lease(&q, json!({"max_tasks": 1})).await;
                    let Some(lease) = leases.first() else {
                        if completed.lock().await.values().sum::<usize>() == 150 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    let acked = app.worker_call(lease, "ack", json!({})).await;
                    assert_eq!(acked.status, 200, "{}", acked.body);
                    *completed.lock().await.entry(group_of(lease)).or_insert(0) += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    done.store(true, Ordering::Relaxed);
    let (samples, most) = sampler.await.expect("sampler");
    assert!(samples >= 20, "only {samples} samples");
    assert_eq!(
        most, 2,
        "the most leased of one group at once, over {samples} samples"
    );
    let completed = completed.lock().await;
    for g in groups {
        assert_eq!(completed.get(g), Some(&30), "{completed:?}");
    }
}

/// `groups.rate_limit` 5/s, burst 5, through two instances for 3 s: each group is granted at
/// most burst + rate × elapsed leases (5 + 5 × 3 s = 20, with elapsed measured generously,
/// from before the first lease to after the last), and at least its burst; tasks without a
/// group are not held by it; a lease that finds only rate-held groups says when to retry.
#[tokio::test]
async fn each_group_is_held_to_its_rate_across_instances() {
    let (first, second) = two_instances().await;
    let q = queue("group-rate");
    first
        .patch_policy(
            &q,
            json!({"groups": {"rate_limit": {"per_second": 5, "burst": 5}}}),
        )
        .await;
    let groups = ["r0", "r1", "r2"];
    for g in groups {
        submit_group(&first, &q, Some(g), 100).await;
    }
    submit_group(&first, &q, None, 50).await;
    let granted = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    let retry_hints = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let window = Duration::from_secs(3);
    let workers: Vec<_> = (0..6)
        .map(|n| {
            let app = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let (q, granted, hints) = (q.clone(), granted.clone(), retry_hints.clone());
            tokio::spawn(async move {
                while started.elapsed() < window {
                    let path = format!("/v1/queues/{q}/leases");
                    let reply = app.post(&path, json!({"max_tasks": 2})).await;
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    let leases = reply.body["leases"].as_array().cloned().unwrap_or_default();
                    if leases.is_empty() {
                        if let Some(ms) = reply.body["retry_after_ms"].as_u64() {
                            hints.lock().await.push(ms);
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let mut granted = granted.lock().await;
                    for lease in &leases {
                        *granted.entry(group_of(lease)).or_insert(0) += 1;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let bound = (5.0 + 5.0 * elapsed).floor() as u64;
    let granted = granted.lock().await;
    for g in groups {
        let n = granted.get(g).copied().unwrap_or(0);
        assert!(
            (5..=bound).contains(&n),
            "{g}: {n} leases in {elapsed:.2} s, bound {bound}"
        );
    }
    assert_eq!(
        granted.get(""),
        Some(&50),
        "tasks without a group: {granted:?}"
    );
    let hints = retry_hints.lock().await;
    assert!(!hints.is_empty(), "no refused lease said when to retry");
    assert!(hints.iter().all(|ms| (1..=1000).contains(ms)), "{hints:?}");
}

/// `groups.ordered`: 5 groups × 100 tasks, 8 workers that fail one attempt in five (to be
/// retried at once): each group's tasks complete in submit order, and no group ever has two
/// tasks leased at once (sampled inside Redis throughout the run).
#[tokio::test]
async fn ordered_groups_complete_in_submit_order_one_at_a_time() {
    let app = Arc::new(TestApp::start().await);
    let q = queue("group-ordered");
    app.patch_policy(&q, json!({"groups": {"ordered": true}, "max_attempts": 50}))
        .await;
    let groups = ["o0", "o1", "o2", "o3", "o4"];
    for g in groups {
        submit_group(&app, &q, Some(g), 100).await;
    }
    let order = Arc::new(Mutex::new(HashMap::<String, Vec<u64>>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = most_leased_of_one_group(app.clone(), q.clone(), done.clone());
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (app, q, order) = (app.clone(), q.clone(), order.clone());
            tokio::spawn(async move {
                loop {
                    let leases = app.lease(&q, json!({"max_tasks": 1})).await;
                    let Some(lease) = leases.first() else {
                        if order.lock().await.values().map(Vec::len).sum::<usize>() == 500 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    };
                    // Some work, so the sampler sees leases that are out.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    if rand::random_range(0..5) == 0 {
                        let body = json!({"error": "flaky", "retry_in_ms": 0});
                        let failed = app.worker_call(lease, "fail", body).await;
                        assert_eq!(failed.status, 200, "{}", failed.body);
                        continue;
                    }
                    let acked = app.worker_call(lease, "ack", json!({})).await;
                    assert_eq!(acked.status, 200, "{}", acked.body);
                    let n = lease["task"]["payload"]["n"].as_u64().expect("n");
                    order
                        .lock()
                        .await
                        .entry(group_of(lease))
                        .or_default()
                        .push(n);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    done.store(true, Ordering::Relaxed);
    let (samples, most) = sampler.await.expect("sampler");
    assert!(samples >= 20, "only {samples} samples");
    assert_eq!(
        most, 1,
        "the most leased of one group at once, over {samples} samples"
    );
    let order = order.lock().await;
    let submitted: Vec<u64> = (0..100).collect();
    for g in groups {
        assert_eq!(order.get(g), Some(&submitted), "{g} completed out of order");
    }
}

/// A failed attempt of an ordered group that waits for its retry holds the group: nothing
/// else of it is leased until the retried task is done, and the group shows as held.
#[tokio::test]
async fn a_retry_in_backoff_holds_its_ordered_group() {
    let app = TestApp::start().await;
    let q = queue("group-ordered-hold");
    app.patch_policy(&q, json!({"groups": {"ordered": true}}))
        .await;
    submit_group(&app, &q, Some("acct"), 3).await;
    let first = app.lease_one(&q).await;
    assert_eq!(first["task"]["payload"]["n"], 0);
    let body = json!({"error": "later", "retry_in_ms": 600});
    let failed = app.worker_call(&first, "fail", body).await;
    assert_eq!(failed.body["state"], "scheduled", "{}", failed.body);
    assert!(app.lease(&q, json!({"max_tasks": 10})).await.is_empty());
    let view: Value = app.get(&format!("/v1/queues/{q}/groups/acct")).await.body;
    assert_eq!(view["held_by"], "ordered", "{view}");
    assert_eq!(
        view["counts"],
        json!({"ready": 2, "scheduled": 1, "leased": 0})
    );

    let again = app.lease_when_ready(&q, json!({"max_tasks": 10})).await;
    assert_eq!(
        again["task"]["payload"]["n"], 0,
        "the retried task goes first"
    );
    assert_eq!(again["attempt"], 2);
}

/// Under `fair`, a group its own limit holds (`max_in_flight` 1, or `ordered`) keeps its place
/// in the turns while it is held. One worker leases one task at a time and acks it, so after
/// each lease its group is held until the ack: three such groups and the tasks without a
/// group still take one turn each per round, 20 of 80 leases each. (A held group used to come
/// back at the clock, tie with the groups that had not had their turn and win by name, so
/// `a` took every lease.)
#[tokio::test]
async fn groups_held_by_their_limits_keep_their_fair_share() {
    let app = TestApp::start().await;
    for (name, limit) in [
        ("cap", json!({"max_in_flight": 1})),
        ("ordered", json!({"ordered": true})),
    ] {
        let q = queue(&format!("fair-held-{name}"));
        app.patch_policy(&q, json!({"strategy": "fair", "groups": limit}))
            .await;
        for g in ["a", "b", "c"] {
            submit_group(&app, &q, Some(g), 40).await;
        }
        submit_group(&app, &q, None, 40).await;
        let mut seen = Vec::new();
        for _ in 0..80 {
            let lease = app.lease_one(&q).await;
            seen.push(group_of(&lease));
            let acked = app.worker_call(&lease, "ack", json!({})).await;
            assert_eq!(acked.status, 200, "{}", acked.body);
        }
        let counts = tally(&seen);
        for g in ["a", "b", "c", ""] {
            assert_eq!(counts.get(g), Some(&20), "{name}: {counts:?}");
        }
    }
}
