//! Many instances, one Redis: three taskgate processes' worth of apps share one Redis and one
//! key prefix, producers and workers spread across them. Every task is completed exactly once,
//! and a queue's `max_in_flight` holds across all three at every moment (sampled in Redis).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use serde_json::json;

use crate::harness::{RedisServer, TestApp, queue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_complete_every_task_exactly_once_within_global_limits() {
    let redis = RedisServer::shared();
    let prefix = format!("--key-prefix=many{}", std::process::id());
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(Arc::new(TestApp::start_with(redis, &[&prefix]).await));
    }
    let q = queue("many");
    apps[0].patch_policy(&q, json!({"max_in_flight": 4})).await;
    const TASKS: usize = 300;
    let producers: Vec<_> = (0..TASKS)
        .map(|n| {
            let app = apps[n % 3].clone();
            let q = q.clone();
            tokio::spawn(async move { app.submit(&q, json!({"payload": {"n": n}})).await })
        })
        .collect();
    for producer in producers {
        producer.await.expect("submit");
    }

    let acked: Arc<Vec<AtomicU32>> = Arc::new((0..TASKS).map(|_| AtomicU32::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, key) = (
            done.clone(),
            format!("many{}:{{q:{q}}}:leased", std::process::id()),
        );
        tokio::spawn(async move {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                let held: i64 = redis.cmd(&["ZCARD", &key]).await;
                most = most.max(held);
            }
            most
        })
    };
    let workers: Vec<_> = (0..9)
        .map(|w| {
            let (app, q, acked) = (apps[w % 3].clone(), q.clone(), acked.clone());
            let deadline = crate::harness::Deadline::after(std::time::Duration::from_secs(60));
            tokio::spawn(async move {
                loop {
                    deadline.check("every task acked");
                    let total: u32 = acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
                    if total as usize >= TASKS {
                        return;
                    }
                    let leases = app.lease(&q, json!({"max_tasks": 2})).await;
                    for lease in leases {
                        let n = lease["task"]["payload"]["n"].as_u64().expect("n") as usize;
                        let reply = app.worker_call(&lease, "ack", json!({})).await;
                        assert_eq!(reply.status, reqwest::StatusCode::OK);
                        acked[n].fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    done.store(true, Ordering::Relaxed);
    let most = sampler.await.expect("sampler");
    let counts: Vec<u32> = acked.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    assert!(
        counts.iter().all(|c| *c == 1),
        "not exactly once: {counts:?}"
    );
    assert!(
        most <= 4,
        "{most} leases held at once, above max_in_flight 4"
    );
    assert!(most >= 1, "the sampler saw no lease at all");
    let stats = apps[2].queue_stats(&q).await;
    assert_eq!(stats["totals"]["completed"], TASKS);
    assert_eq!(stats["counts"]["leased"], 0);
}
