//! Hot-path benchmark: submit, lease and ack over real HTTP against a real `redis-server`
//! (started on a free port, like the tests), with concurrent clients. Prints throughput and
//! latency percentiles per operation.
//!
//! Run: `cargo bench --bench hot_path` (optionally `-- <tasks> <concurrency>`).

#[path = "../tests/api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../tests/api/redis_cluster.rs"]
#[allow(dead_code)]
mod redis_cluster;
#[path = "../tests/api/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;
#[path = "../tests/api/reply.rs"]
#[allow(dead_code)]
mod reply;

/// The harness's switch: single-node Redis here.
const CLUSTER: bool = false;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{RedisServer, TestApp};
use serde_json::json;
use tokio::sync::Mutex;

/// Latencies of one operation across all clients.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn report(&mut self, name: &str, wall: Duration) {
        self.0.sort();
        let pick = |p: f64| self.0[((self.0.len() - 1) as f64 * p) as usize];
        println!(
            "{name:<8} {:>7} ops in {:>6.2} s = {:>8.0} ops/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.0.len(),
            wall.as_secs_f64(),
            self.0.len() as f64 / wall.as_secs_f64(),
            pick(0.50).as_secs_f64() * 1e3,
            pick(0.99).as_secs_f64() * 1e3,
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tasks = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(32);
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &[]).await);
    println!(
        "hot_path: {tasks} tasks, {concurrency} concurrent clients, one taskgate, one redis-server"
    );

    let per_client = tasks / concurrency;
    let submits = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (app, submits) = (app.clone(), submits.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..per_client {
                let t = Instant::now();
                app.submit(
                    "bench",
                    json!({"payload": {"n": n, "body": "x".repeat(200)}}),
                )
                .await;
                submits.lock().await.0.push(t.elapsed());
            }
        }));
    }
    for client in clients {
        client.await.expect("submit client");
    }
    submits.lock().await.report("submit", started.elapsed());

    let leases = Arc::new(Mutex::new(Samples::default()));
    let acks = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (app, leases, acks) = (app.clone(), leases.clone(), acks.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let t = Instant::now();
                let got = app.lease("bench", json!({"worker": "bench"})).await;
                leases.lock().await.0.push(t.elapsed());
                let Some(lease) = got.into_iter().next() else {
                    return;
                };
                let t = Instant::now();
                let acked = app
                    .worker_call(&lease, "ack", json!({"result": "ok"}))
                    .await;
                assert_eq!(acked.status, reqwest::StatusCode::OK);
                acks.lock().await.0.push(t.elapsed());
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let wall = started.elapsed();
    leases.lock().await.report("lease", wall);
    acks.lock().await.report("ack", wall);
}
