//! What the lifecycle benchmark stands on: its options, the processes it starts, CPU and
//! latency accounting, and the idle and memory scenarios.

use std::net::TcpListener;
use std::ops::Range;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Clone, Copy)]
pub enum Scenario {
    /// Submit, lease and acknowledge N tasks (the default).
    Cycle,
    /// Workers long-polling an empty queue: what they cost when there is nothing to do.
    Idle,
    /// Server memory with many long-polls, and server and Redis memory with many queued tasks.
    Memory,
}

#[derive(Clone)]
pub struct Options {
    pub scenario: Scenario,
    pub tasks: usize,
    pub producers: usize,
    pub workers: usize,
    pub phased: bool,
    pub submit_batch: usize,
    pub lease_max: usize,
    pub ack_batch: usize,
    pub wait_ms: u64,
    pub payload_bytes: usize,
    pub access_log: bool,
    /// Submits and acks with `Taskgate-Durability: replicated`, against a Redis with a replica.
    pub durable: bool,
    pub direct: bool,
    pub seconds: u64,
    pub base: Option<String>,
    /// `--against <rev>`: also run that revision's build, alternating with this one.
    pub against: Option<String>,
    /// Pairs of runs in `--against` mode.
    pub pairs: usize,
    /// The taskgate binary to start (in `--against` mode, each side's).
    pub server: Option<std::path::PathBuf>,
    /// `--groups N`: task n is submitted in group `g<n mod N>` (0: no groups).
    pub groups: usize,
    /// `--strategy priority|fair`: set as the queue's policy before the run.
    pub strategy: Option<String>,
}

impl Options {
    pub fn parse() -> Self {
        let mut options = Self {
            scenario: Scenario::Cycle,
            tasks: 20_000,
            producers: 4,
            workers: 8,
            phased: false,
            submit_batch: 1,
            lease_max: 1,
            ack_batch: 1,
            wait_ms: 0,
            payload_bytes: 100,
            access_log: false,
            durable: false,
            direct: true,
            seconds: 300,
            base: None,
            against: None,
            pairs: 3,
            server: None,
            groups: 0,
            strategy: None,
        };
        let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
        while let Some(flag) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage(&flag));
            let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| usage(&v));
            match flag.as_str() {
                "--tasks" => options.tasks = number(value()),
                "--producers" => options.producers = number(value()).max(1),
                "--workers" => options.workers = number(value()).max(1),
                "--mode" => options.phased = value() == "phased",
                "--submit-batch" => options.submit_batch = number(value()).clamp(1, 1000),
                "--lease-max" => options.lease_max = number(value()).clamp(1, 100),
                "--ack-batch" => options.ack_batch = number(value()).clamp(1, 1000),
                "--wait-ms" => options.wait_ms = number(value()) as u64,
                "--payload-bytes" => options.payload_bytes = number(value()),
                "--seconds" => options.seconds = number(value()) as u64,
                "--base" => options.base = Some(value()),
                "--against" => options.against = Some(value()),
                "--pairs" => options.pairs = number(value()).max(1),
                "--groups" => options.groups = number(value()),
                "--strategy" => options.strategy = Some(value()),
                "--access-log" => options.access_log = true,
                "--durable" => options.durable = true,
                "--no-direct" => options.direct = false,
                "--scenario" => {
                    options.scenario = match value().as_str() {
                        "cycle" => Scenario::Cycle,
                        "idle" => Scenario::Idle,
                        "memory" => Scenario::Memory,
                        other => usage(other),
                    }
                }
                other => usage(other),
            }
        }
        options
    }

    pub fn describe(&self) -> String {
        format!(
            "lifecycle: {} tasks of {} B, {} producers, {} workers, {} mode; submit batch {}, \
             lease max_tasks {}, ack batch {}, wait_ms {}; access log {}{}{}",
            self.tasks,
            self.payload_bytes,
            self.producers,
            self.workers,
            if self.phased { "phased" } else { "concurrent" },
            self.submit_batch,
            self.lease_max,
            self.ack_batch,
            self.wait_ms,
            if self.access_log { "on" } else { "off" },
            if self.durable {
                "; replicated durability (one replica)"
            } else {
                ""
            },
            match (self.groups, &self.strategy) {
                (0, None) => String::new(),
                (groups, strategy) => format!(
                    "; {groups} groups, strategy {}",
                    strategy.as_deref().unwrap_or("priority")
                ),
            },
        )
    }
}

fn usage(what: &str) -> ! {
    eprintln!("lifecycle: unexpected {what:?}; see the top of benches/lifecycle/main.rs");
    std::process::exit(2);
}

/// `tasks` numbers split into `parts` ranges.
pub fn shares(tasks: usize, parts: usize) -> Vec<Range<usize>> {
    (0..parts)
        .map(|p| (tasks * p / parts)..(tasks * (p + 1) / parts))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The redis-server and taskgate the benchmark started (killed when dropped), or the server
/// named by `--base`.
pub struct Processes {
    pub base: String,
    redis_port: u16,
    redis: Option<Child>,
    replica: Option<Child>,
    server: Option<Child>,
}

impl Processes {
    pub async fn start(options: &Options) -> Self {
        if let Some(base) = &options.base {
            return Self {
                base: base.trim_end_matches('/').to_owned(),
                redis_port: 0,
                redis: None,
                replica: None,
                server: None,
            };
        }
        let redis_port = free_port();
        let redis = Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let replica = options.durable.then(|| start_replica(redis_port));
        let port = free_port();
        // `--against` names each side's build; TASKGATE_BENCH_SERVER runs another build; by
        // default, this one's.
        let binary = options.server.clone().unwrap_or_else(|| {
            std::env::var_os("TASKGATE_BENCH_SERVER")
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_taskgate").into())
                .into()
        });
        let server = Command::new(binary)
            .env("TASKGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "TASKGATE_REDIS_URL",
                format!("redis://127.0.0.1:{redis_port}"),
            )
            .env("TASKGATE_ACCESS_LOG", options.access_log.to_string())
            .env("TASKGATE_MAX_WAITING_REQUESTS", "20000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start taskgate");
        let processes = Self {
            base: format!("http://127.0.0.1:{port}"),
            redis_port,
            redis: Some(redis),
            replica,
            server: Some(server),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(format!("{}/readyz", processes.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "taskgate did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        processes
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis_port)
    }

    fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    fn redis_pid(&self) -> Option<u32> {
        self.redis.as_ref().map(Child::id)
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in [&mut self.server, &mut self.replica, &mut self.redis]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A replica of the Redis on `master`, in sync with it.
// The child is returned to `Processes`, whose `Drop` kills and waits for it.
#[allow(clippy::zombie_processes)]
fn start_replica(master: u16) -> Child {
    let port = free_port();
    let mut replica = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--replicaof", "127.0.0.1", &master.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the replica");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "INFO", "replication"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if info.contains("master_link_status:up") {
            return replica;
        }
        if Instant::now() >= deadline {
            let _ = replica.kill();
            let _ = replica.wait();
            panic!("the replica did not sync");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CPU seconds a process has used (user + system), from `/proc`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resident memory of a process, in bytes, from `/proc`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU used by the server, Redis and this benchmark over one measurement.
pub struct Cpu {
    pids: Vec<(&'static str, String)>,
    before: Vec<Option<f64>>,
}

impl Cpu {
    pub fn start(processes: &Processes) -> Self {
        let mut pids = vec![("bench", "self".to_owned())];
        if let Some(pid) = processes.server_pid() {
            pids.push(("server", pid.to_string()));
        }
        if let Some(pid) = processes.redis_pid() {
            pids.push(("redis", pid.to_string()));
        }
        let before = pids.iter().map(|(_, pid)| cpu_seconds(pid)).collect();
        Self { pids, before }
    }

    /// Prints each process's share of a core over `wall`, and its CPU per task; returns the
    /// CPU per task of each, by name.
    pub fn report(&self, tasks: usize, wall: Duration) -> Vec<(&'static str, f64)> {
        let mut parts = Vec::new();
        let mut per_task = Vec::new();
        for ((name, pid), before) in self.pids.iter().zip(&self.before) {
            if let (Some(before), Some(after)) = (before, cpu_seconds(pid)) {
                let used = after - before;
                let micros = 1e6 * used / tasks as f64;
                parts.push(format!(
                    "{name} {:.0}% of a core, {micros:.0} µs/task",
                    100.0 * used / wall.as_secs_f64(),
                ));
                per_task.push((*name, micros));
            }
        }
        println!("       CPU: {}", parts.join("; "));
        per_task
    }
}

/// Latencies of one operation.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn add(&mut self, took: Duration) {
        self.0.push(took);
    }

    pub fn merge(parts: Vec<Latencies>) -> Self {
        Self(parts.into_iter().flat_map(|p| p.0).collect())
    }

    /// p50, p99 and max, in ms (zeros when there were no calls).
    pub fn percentiles(&mut self) -> [f64; 3] {
        if self.0.is_empty() {
            return [0.0; 3];
        }
        self.0.sort();
        let pick = |p: f64| self.0[((self.0.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        [pick(0.5), pick(0.99), pick(1.0)]
    }

    pub fn summary(&mut self, name: &str) -> String {
        if self.0.is_empty() {
            return format!("{name:<7} (none)");
        }
        let [p50, p99, max] = self.percentiles();
        format!(
            "{name:<7} {:>7} calls   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   max {max:>7.2} ms",
            self.0.len(),
        )
    }
}

/// `--scenario idle`: workers long-polling an empty queue for a while; their cost.
pub async fn idle(options: &Options) {
    let processes = Processes::start(options).await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/v1/queues/idle-{}/leases",
        processes.base,
        std::process::id()
    );
    let workers = options.workers;
    let span = Duration::from_secs(10);
    // Let every worker get its first long-poll in before measuring.
    let polls = (0..workers).map(|w| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let until = Instant::now() + span + Duration::from_secs(1);
            let mut calls = 0u64;
            while Instant::now() < until {
                // A fresh request id per call, as the example workers send.
                let body = json!({"wait_ms": 30000, "request_id": format!("idle-{w}-{calls}")});
                let answer = client.post(&url).json(&body).send().await;
                let _ = answer.expect("lease").bytes().await;
                calls += 1;
            }
            calls
        }
    });
    let measuring = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (cpu, commands) = (Cpu::start(&processes), redis_commands(processes.redis_port));
        tokio::time::sleep(span).await;
        (
            cpu,
            redis_commands(processes.redis_port).saturating_sub(commands),
        )
    };
    let (calls, (cpu, commands)): (Vec<u64>, (Cpu, u64)) =
        tokio::join!(futures_util::future::join_all(polls), measuring);
    println!(
        "idle: {workers} workers long-polling an empty queue for {} s made {} lease calls in all",
        span.as_secs(),
        calls.iter().sum::<u64>()
    );
    cpu.report(workers, span);
    println!(
        "       (µs/task above is CPU per idle worker over the {} s); Redis ran {:.0} commands/s",
        span.as_secs(),
        commands as f64 / span.as_secs_f64()
    );
}

/// Commands the Redis on `port` has run so far (INFO commandstats, scripts' commands included).
fn redis_commands(port: u16) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "commandstats"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `--scenario memory`: server RSS with `--workers` long-polls waiting, then server RSS and
/// Redis bytes per task with `--tasks` tasks queued.
pub async fn memory(options: &Options) {
    let processes = Processes::start(options).await;
    let server = processes.server_pid().expect("a server of our own");
    let base_rss = rss_bytes(server).unwrap_or(0);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("client");
    let url = format!(
        "{}/v1/queues/polls-{}/leases",
        processes.base,
        std::process::id()
    );
    let waiters = options.workers;
    let polls: Vec<_> = (0..waiters)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let _ = client
                    .post(url)
                    .json(&json!({"wait_ms": 30000}))
                    .send()
                    .await;
            })
        })
        .collect();
    let waiting = "taskgate_http_requests_in_flight{class=\"waiting\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = client
            .get(format!("{}/metrics", processes.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let now = text
            .lines()
            .find_map(|l| l.strip_prefix(waiting)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if now as usize >= waiters || Instant::now() > deadline {
            println!("memory: {now} long-polls waiting");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss = rss_bytes(server).unwrap_or(0);
    println!(
        "       server RSS {:.1} MiB idle, {:.1} MiB with {waiters} long-polls ({:.1} KiB each)",
        base_rss as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        (rss.saturating_sub(base_rss)) as f64 / 1024.0 / waiters as f64
    );
    for poll in polls {
        poll.abort();
    }

    let redis = redis_info_memory(&processes).await;
    let queue = format!(
        "{}/v1/queues/mem-{}/tasks:batch",
        processes.base,
        std::process::id()
    );
    let batches = support_batches(options.tasks, 1000);
    let pad = "x".repeat(options.payload_bytes.saturating_sub(20));
    let started = Instant::now();
    let senders = batches
        .chunks(batches.len().div_ceil(8).max(1))
        .map(|mine| {
            let (client, url, pad) = (client.clone(), queue.clone(), pad.clone());
            let mine = mine.to_vec();
            async move {
                for (from, to) in mine {
                    let tasks: Vec<Value> = (from..to)
                        .map(|n| json!({"payload": {"n": n, "pad": pad}}))
                        .collect();
                    let response = client
                        .post(&url)
                        .json(&json!({"tasks": tasks}))
                        .send()
                        .await;
                    assert_eq!(response.expect("batch").status(), 200);
                }
            }
        });
    futures_util::future::join_all(senders).await;
    let after = redis_info_memory(&processes).await;
    let rss = rss_bytes(server).unwrap_or(0);
    println!(
        "       {} tasks of {} B queued in {:.1} s: Redis used_memory grew {:.1} MiB = {:.0} bytes/task; server RSS {:.1} MiB",
        options.tasks,
        options.payload_bytes,
        started.elapsed().as_secs_f64(),
        (after - redis) as f64 / 1048576.0,
        (after - redis) as f64 / options.tasks as f64,
        rss as f64 / 1048576.0
    );
}

fn support_batches(tasks: usize, size: usize) -> Vec<(usize, usize)> {
    (0..tasks)
        .step_by(size)
        .map(|from| (from, (from + size).min(tasks)))
        .collect()
}

async fn redis_info_memory(processes: &Processes) -> i64 {
    let output = Command::new("redis-cli")
        .args(["-p", &processes.redis_port.to_string(), "INFO", "memory"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
