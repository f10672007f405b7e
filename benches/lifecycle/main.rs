//! The lifecycle benchmark: producers submit tasks and workers lease and acknowledge them, over
//! HTTP against a real `taskgate` process and its own `redis-server` (or a server you name), and
//! then the same operations straight through the store with no HTTP (the direct-store ceiling).
//! Every task is checked completed exactly once. See BENCHMARKS.md for figures and commands.
//!
//! ```text
//! cargo bench --bench lifecycle -- [--tasks 20000] [--producers 4] [--workers 8]
//!     [--mode concurrent|phased] [--submit-batch 1] [--lease-max 1] [--ack-batch 1]
//!     [--wait-ms 0] [--payload-bytes 100] [--access-log] [--no-direct] [--seconds 300]
//!     [--base http://host:port]   (an already running server: CPU is then not measured)
//!     [--scenario cycle|idle|memory]
//!     [--groups 100] [--strategy priority|fair]   (tasks spread over groups; the queue's strategy)
//!     [--against <git rev> [--pairs 3]]   (that revision's build and this one, alternating)
//! ```

mod against;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Cpu, Latencies, Options, Processes, Scenario};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = Options::parse();
    let deadline = Duration::from_secs(options.seconds);
    let run = async {
        match options.scenario {
            Scenario::Cycle => cycle(&options).await,
            Scenario::Idle => support::idle(&options).await,
            Scenario::Memory => support::memory(&options).await,
        }
    };
    if tokio::time::timeout(deadline, run).await.is_err() {
        eprintln!("lifecycle: did not finish within {} s", options.seconds);
        std::process::exit(1);
    }
}

async fn cycle(options: &Options) {
    if let Some(rev) = &options.against {
        return against::compare(options, rev).await;
    }
    let processes = Processes::start(options).await;
    println!("{}", options.describe());
    let http = Http::run(options, &processes).await.rate;
    let direct = if options.direct && options.base.is_none() {
        Some(direct::run(options, &processes.redis_url()).await)
    } else {
        None
    };
    if let Some(direct) = direct {
        println!(
            "http / direct: {:.0}%  ({:.0} vs {:.0} tasks/s through the full cycle)",
            100.0 * http / direct,
            http,
            direct
        );
    }
}

/// The HTTP side.
struct Http;

/// What one run over HTTP measured.
pub struct HttpRun {
    /// Full cycles per second.
    pub rate: f64,
    /// p50, p99 and max of submit, lease and ack, in ms.
    pub latencies: [(&'static str, [f64; 3]); 3],
    /// Server CPU per task, in µs, when the server is ours.
    pub server_us: Option<f64>,
}

impl Http {
    /// Runs the workload over HTTP.
    async fn run(options: &Options, processes: &Processes) -> HttpRun {
        let mut headers = reqwest::header::HeaderMap::new();
        if options.durable {
            headers.insert(
                "taskgate-durability",
                reqwest::header::HeaderValue::from_static("replicated"),
            );
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .default_headers(headers)
            .build()
            .expect("client");
        let queue = format!("bench-{}", std::process::id());
        let base = processes.base.clone();
        if let Some(strategy) = &options.strategy {
            let response = client
                .patch(format!("{base}/v1/queues/{queue}/policy"))
                .json(&json!({ "strategy": strategy }))
                .send()
                .await
                .expect("set the strategy");
            assert_eq!(response.status(), 200, "set the strategy");
        }
        let tally = Tally::new(options.tasks);
        let cpu = Cpu::start(processes);
        let started = Instant::now();
        let (submits, (leases, acks)) = if options.phased {
            let submits = produce(options, &client, &base, &queue).await;
            let submitted = started.elapsed();
            println!(
                "http   submit phase: {:.0} tasks/s",
                options.tasks as f64 / submitted.as_secs_f64()
            );
            (
                submits,
                consume(options, &client, &base, &queue, &tally).await,
            )
        } else {
            tokio::join!(
                produce(options, &client, &base, &queue),
                consume(options, &client, &base, &queue, &tally)
            )
        };
        let wall = started.elapsed();
        let rate = options.tasks as f64 / wall.as_secs_f64();
        println!(
            "http   {} tasks in {:.2} s = {rate:.0} full cycles/s",
            options.tasks,
            wall.as_secs_f64()
        );
        let mut latencies = [("submit", submits), ("lease", leases), ("ack", acks)];
        for (name, latencies) in &mut latencies {
            println!("       {}", latencies.summary(name));
        }
        let cpu = cpu.report(options.tasks, wall);
        tally.verify("http");
        let run = HttpRun {
            rate,
            latencies: latencies.map(|(name, mut l)| (name, l.percentiles())),
            server_us: cpu.iter().find(|(n, _)| *n == "server").map(|(_, us)| *us),
        };
        let response = client
            .get(format!("{base}/v1/queues/{queue}"))
            .send()
            .await
            .expect("stats");
        let other_build =
            options.server.is_some() || std::env::var_os("TASKGATE_BENCH_SERVER").is_some();
        if other_build && response.status() == reqwest::StatusCode::NOT_FOUND {
            // An older build, run for an A/B comparison, that has no queue stats.
            println!("       (the server has no queue stats: its own count is not checked)");
            return run;
        }
        let stats: Value = response.json().await.expect("stats json");
        assert_eq!(
            stats["counts"]["completed"], options.tasks,
            "the server's own count: {stats}"
        );
        assert_eq!(stats["totals"]["completed"], options.tasks);
        run
    }
}

/// How many times each task was acknowledged, by the number in its payload.
struct Tally {
    acked: Vec<AtomicU32>,
    done: AtomicUsize,
}

impl Tally {
    fn new(tasks: usize) -> Arc<Self> {
        Arc::new(Self {
            acked: (0..tasks).map(|_| AtomicU32::new(0)).collect(),
            done: AtomicUsize::new(0),
        })
    }

    fn record(&self, n: usize) {
        self.acked[n].fetch_add(1, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self) -> bool {
        self.done.load(Ordering::Relaxed) >= self.acked.len()
    }

    /// Every task acknowledged exactly once: none lost, none twice.
    fn verify(&self, side: &str) {
        let counts: Vec<u32> = self
            .acked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        let lost = counts.iter().filter(|c| **c == 0).count();
        let twice = counts.iter().filter(|c| **c > 1).count();
        assert!(
            lost == 0 && twice == 0,
            "{side}: {lost} tasks never acknowledged, {twice} acknowledged more than once"
        );
        println!(
            "       verified: {} tasks, each completed exactly once",
            counts.len()
        );
    }
}

/// The submit body of task `n`: its payload, and its group when the run spreads tasks over
/// `groups` groups.
fn task_body(n: usize, bytes: usize, groups: usize) -> Value {
    let mut body = json!({"payload": payload(n, bytes)});
    if groups > 0 {
        body["group"] = json!(format!("g{}", n % groups));
    }
    body
}

/// The payload of task `n`: `{"n": n, "pad": "..."}` of about `bytes` bytes.
fn payload(n: usize, bytes: usize) -> Value {
    let pad = bytes.saturating_sub(20 + n.to_string().len());
    json!({"n": n, "pad": "x".repeat(pad)})
}

fn task_number(task: &Value) -> usize {
    task["payload"]["n"].as_u64().expect("a bench payload") as usize
}

/// The producers: each submits its share, one task or one batch per request.
async fn produce(
    options: &Options,
    client: &reqwest::Client,
    base: &str,
    queue: &str,
) -> Latencies {
    let shares = support::shares(options.tasks, options.producers);
    let producers = shares.into_iter().map(|range| {
        let (client, url, batch_url) = (
            client.clone(),
            format!("{base}/v1/queues/{queue}/tasks"),
            format!("{base}/v1/queues/{queue}/tasks:batch"),
        );
        let (batch, bytes, groups) = (options.submit_batch, options.payload_bytes, options.groups);
        async move {
            let mut latencies = Latencies::default();
            let numbers: Vec<usize> = range.collect();
            for chunk in numbers.chunks(batch) {
                let started = Instant::now();
                if batch == 1 {
                    let response = client
                        .post(&url)
                        .json(&task_body(chunk[0], bytes, groups))
                        .send()
                        .await
                        .expect("submit");
                    assert_eq!(response.status(), 201, "submit");
                    response.bytes().await.expect("body");
                } else {
                    let tasks: Vec<Value> =
                        chunk.iter().map(|n| task_body(*n, bytes, groups)).collect();
                    let response = client
                        .post(&batch_url)
                        .json(&json!({"tasks": tasks}))
                        .send()
                        .await
                        .expect("batch submit");
                    assert_eq!(response.status(), 200, "batch submit");
                    let body: Value = response.json().await.expect("body");
                    let created = body["results"].as_array().expect("results");
                    assert!(created.iter().all(|r| r["status"] == 201), "{body}");
                }
                latencies.add(started.elapsed());
            }
            latencies
        }
    });
    Latencies::merge(futures_util::future::join_all(producers).await)
}

/// The workers: lease up to `lease_max`, acknowledge each (or the batch), until every task is
/// done.
async fn consume(
    options: &Options,
    client: &reqwest::Client,
    base: &str,
    queue: &str,
    tally: &Arc<Tally>,
) -> (Latencies, Latencies) {
    let workers = (0..options.workers).map(|w| {
        let client = client.clone();
        let tally = tally.clone();
        let lease_url = format!("{base}/v1/queues/{queue}/leases");
        let task_url = format!("{base}/v1/queues/{queue}/tasks");
        let acks_url = format!("{base}/v1/queues/{queue}/acks");
        let mut body = json!({"worker": format!("bench-{w}"), "max_tasks": options.lease_max});
        if options.wait_ms > 0 {
            // Only when asked, so that the benchmark also runs against builds without long polls.
            body["wait_ms"] = json!(options.wait_ms);
        }
        let ack_batch = options.ack_batch;
        async move {
            let (mut leasing, mut acking) = (Latencies::default(), Latencies::default());
            let mut pending: Vec<(usize, Value)> = Vec::new();
            while !tally.finished() {
                let started = Instant::now();
                let response = client
                    .post(&lease_url)
                    .json(&body)
                    .send()
                    .await
                    .expect("lease");
                assert_eq!(response.status(), 200, "lease");
                let leased: Value = response.json().await.expect("lease body");
                leasing.add(started.elapsed());
                let leases = leased["leases"].as_array().expect("leases");
                if leases.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                for lease in leases {
                    pending.push((task_number(&lease["task"]), lease.clone()));
                }
                while pending.len() >= ack_batch || (!pending.is_empty() && leases.is_empty()) {
                    let take = pending.len().min(ack_batch);
                    let batch: Vec<(usize, Value)> = pending.drain(..take).collect();
                    let started = Instant::now();
                    if ack_batch == 1 {
                        let (n, lease) = &batch[0];
                        let url = format!(
                            "{task_url}/{}/ack",
                            lease["task"]["id"].as_str().expect("id")
                        );
                        let response = client
                            .post(url)
                            .json(&json!({"lease_id": lease["lease_id"]}))
                            .send()
                            .await
                            .expect("ack");
                        assert_eq!(response.status(), 200, "ack");
                        response.bytes().await.expect("body");
                        tally.record(*n);
                    } else {
                        let acks: Vec<Value> = batch
                            .iter()
                            .map(|(_, l)| json!({"id": l["task"]["id"], "lease_id": l["lease_id"]}))
                            .collect();
                        let response = client
                            .post(&acks_url)
                            .json(&json!({"acks": acks}))
                            .send()
                            .await
                            .expect("batch ack");
                        assert_eq!(response.status(), 200, "batch ack");
                        let answer: Value = response.json().await.expect("body");
                        let results = answer["results"].as_array().expect("results");
                        for ((n, _), result) in batch.iter().zip(results) {
                            assert_eq!(result["status"], 200, "{result}");
                            tally.record(*n);
                        }
                    }
                    acking.add(started.elapsed());
                }
            }
            (leasing, acking)
        }
    });
    let (leases, acks): (Vec<_>, Vec<_>) = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .unzip();
    (Latencies::merge(leases), Latencies::merge(acks))
}

/// The same workload through the store, in this process, with no HTTP.
mod direct {
    use super::*;
    use taskgate::model::{QueueName, TaskId};
    use taskgate::store::Services;
    use taskgate::store::dispatch::{AckItem, LeaseRequest};
    use taskgate::store::tasks::{NewTask, Start};

    fn store(redis_url: &str) -> Services {
        let config = taskgate::config::Config::load_from([
            "taskgate".to_owned(),
            format!("--redis-url={redis_url}"),
            format!("--key-prefix=direct{}", std::process::id()),
        ])
        .expect("config");
        taskgate::state_from_config(&config).expect("store").store
    }

    fn new_task(n: usize, bytes: usize) -> NewTask {
        NewTask {
            payload: serde_json::value::RawValue::from_string(payload(n, bytes).to_string())
                .expect("json"),
            priority: 0,
            start: Start::Now,
            max_attempts: None,
            lease_ms: None,
            group: None,
            start_within_ms: None,
            requires: None,
            debounce: None,
            depends_on: None,
            on_dependency_failure: Default::default(),
            flow: None,
            idempotency: None,
        }
    }

    /// Runs the workload; returns full cycles per second.
    pub async fn run(options: &Options, redis_url: &str) -> f64 {
        let store = store(redis_url);
        let queue = QueueName::parse("bench").expect("queue name");
        let tally = Tally::new(options.tasks);
        let started = Instant::now();
        let producers = support::shares(options.tasks, options.producers)
            .into_iter()
            .map(|range| {
                let (store, queue) = (store.clone(), queue.clone());
                let (bytes, batch) = (options.payload_bytes, options.submit_batch);
                async move {
                    let numbers: Vec<usize> = range.collect();
                    for chunk in numbers.chunks(batch) {
                        if batch == 1 {
                            store
                                .tasks
                                .submit(&queue, new_task(chunk[0], bytes))
                                .await
                                .expect("submit");
                        } else {
                            let tasks = chunk.iter().map(|n| new_task(*n, bytes)).collect();
                            store
                                .tasks
                                .submit_batch(&queue, tasks, None)
                                .await
                                .expect("submit batch");
                        }
                    }
                }
            });
        let workers = (0..options.workers).map(|_| {
            let (store, queue, tally) = (store.clone(), queue.clone(), tally.clone());
            let request = LeaseRequest {
                worker: Some("direct".into()),
                max_tasks: options.lease_max as u32,
                lease_ms: None,
                request_id: None,
                labels: None,
            };
            let ack_batch = options.ack_batch;
            async move {
                while !tally.finished() {
                    let leased = store.dispatch.lease(&queue, &request).await.expect("lease");
                    if leased.leases.is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let items: Vec<(usize, AckItem)> = leased
                        .leases
                        .into_iter()
                        .map(|lease| {
                            let payload: Value =
                                serde_json::from_str(lease.task.payload.get()).expect("payload");
                            let item = AckItem {
                                id: TaskId::parse(&lease.task.id).expect("id"),
                                lease_id: lease.lease_id,
                                result: None,
                            };
                            (payload["n"].as_u64().expect("n") as usize, item)
                        })
                        .collect();
                    for chunk in items.chunks(ack_batch) {
                        if ack_batch == 1 {
                            let (n, item) = &chunk[0];
                            store
                                .dispatch
                                .ack(&queue, item.id, &item.lease_id, None)
                                .await
                                .expect("ack");
                            tally.record(*n);
                        } else {
                            let acks: Vec<AckItem> = chunk
                                .iter()
                                .map(|(_, i)| AckItem {
                                    id: i.id,
                                    lease_id: i.lease_id.clone(),
                                    result: None,
                                })
                                .collect();
                            let (outcomes, _) = store
                                .dispatch
                                .ack_batch(&queue, &acks, None)
                                .await
                                .expect("acks");
                            assert_eq!(outcomes.len(), chunk.len());
                            for (n, _) in chunk {
                                tally.record(*n);
                            }
                        }
                    }
                }
            }
        });
        tokio::join!(
            futures_util::future::join_all(producers),
            futures_util::future::join_all(workers)
        );
        let wall = started.elapsed();
        let rate = options.tasks as f64 / wall.as_secs_f64();
        println!(
            "direct {} tasks in {:.2} s = {rate:.0} full cycles/s (store calls, no HTTP, in this process)",
            options.tasks,
            wall.as_secs_f64()
        );
        tally.verify("direct");
        rate
    }
}
