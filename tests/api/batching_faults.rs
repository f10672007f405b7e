//! Natural batching when things go wrong: a caller that goes away while its call waits in its
//! lane takes nothing, and under load, with calls travelling together, a `kill -9` of an
//! instance and a Redis SIGKILL with a restart from its AOF lose nothing that was answered 2xx
//! and complete nothing twice. Each taskgate here is a process of its own (its `/metrics` its
//! own, and a real kill).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::harness::{RedisServer, TempDir, eventually, queue};
use crate::process::Server;

/// A taskgate process on `redis`, up.
fn instance(redis: &RedisServer, flags: &[&str]) -> Server {
    let url = redis.url();
    let mut server = Server::spawn(&[("TASKGATE_REDIS_URL", &url)], flags);
    server.wait_up();
    server
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> Option<(StatusCode, Value)> {
    let response = client.post(url).json(body).send().await.ok()?;
    let status = response.status();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// The value of an unlabelled gauge in the process's `/metrics`.
async fn gauge(server: &Server, name: &str) -> f64 {
    let text = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// While Redis holds writes back, lease A is on its way and lease B waits in the lane behind
/// it; B's client goes away (the server sees the connection close and drops B's call). When
/// Redis lets go, A gets its task and B's call is never sent: the other task stays ready.
#[tokio::test]
async fn a_lease_whose_client_left_before_its_batch_left_leases_nothing() {
    let redis = RedisServer::start();
    let server = instance(
        &redis,
        &[
            "--reaper-interval-ms=0",
            "--redis-response-timeout-ms=20000",
        ],
    );
    let q = queue("gone");
    let base = server.base.clone();
    let http = client();
    let tasks = json!({"tasks": [{"payload": 1}, {"payload": 2}]});
    let (status, _) = post(&http, format!("{base}/v1/queues/{q}/tasks:batch"), &tasks)
        .await
        .expect("submit");
    assert_eq!(status, StatusCode::OK);

    let () = redis.cmd(&["CLIENT", "PAUSE", "30000", "WRITE"]).await;
    let lease_url = format!("{base}/v1/queues/{q}/leases");
    let first = {
        let (http, url) = (http.clone(), lease_url.clone());
        tokio::spawn(async move { post(&http, url, &json!({"worker": "a"})).await })
    };
    let redis_ref = &redis;
    eventually("lease A to be held in Redis", || async move {
        let clients: String = redis_ref.cmd(&["INFO", "clients"]).await;
        clients.contains("blocked_clients:1\r").then_some(())
    })
    .await;
    let second = {
        let (http, url) = (client(), lease_url.clone());
        tokio::spawn(async move { post(&http, url, &json!({"worker": "b"})).await })
    };
    let server_ref = &server;
    eventually("lease B to wait in the lane", || async move {
        let waiting = gauge(server_ref, "taskgate_redis_calls_waiting").await;
        (waiting == 1.0).then_some(())
    })
    .await;
    second.abort();
    assert!(second.await.is_err(), "B was cancelled");
    eventually("the server to drop B's call", || async move {
        let waiting = gauge(server_ref, "taskgate_redis_calls_waiting").await;
        (waiting == 0.0).then_some(())
    })
    .await;
    let () = redis.cmd(&["CLIENT", "UNPAUSE"]).await;

    let (status, body) = first.await.expect("join").expect("lease A answered");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["leases"].as_array().map(Vec::len), Some(1), "{body}");
    let stats = http
        .get(format!("{base}/v1/queues/{q}"))
        .send()
        .await
        .expect("stats")
        .json::<Value>()
        .await
        .expect("stats body");
    assert_eq!(stats["counts"]["ready"], 1, "{stats}");
    assert_eq!(stats["counts"]["leased"], 1, "{stats}");
}

/// What the load saw: each task's id by its idempotency key once a submit was answered 2xx,
/// and how many acks of each task were answered 200 as a first completion (not a replay).
#[derive(Default)]
struct Seen {
    submitted: HashMap<String, String>,
    completions: HashMap<String, u32>,
}

/// Producers and workers on two instances, calls travelling together; instance A is killed
/// with SIGKILL, later Redis is too and comes back from its AOF (fsync always). Every task
/// answered 2xx is completed in the end, and no ack completed any task twice.
#[tokio::test]
async fn kill_9_of_an_instance_and_of_redis_lose_nothing_and_complete_nothing_twice() {
    let dir = TempDir::new("batch-aof");
    let data = dir.display();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &data,
    ];
    let mut redis = RedisServer::start_with(&args);
    let flags = [
        "--reaper-interval-ms=100",
        "--redis-response-timeout-ms=1000",
        "--redis-connect-timeout-ms=500",
    ];
    let a = instance(&redis, &flags);
    let b = instance(&redis, &flags);
    let bases = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let q = queue("batch-faults");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    const PER_PRODUCER: usize = 60;

    let mut load = Vec::new();
    for p in 0..6 {
        let (bases, seen, q) = (bases.clone(), seen.clone(), q.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            for n in 0..PER_PRODUCER {
                let key = format!("{q}-{p}-{n}");
                // Retried (on either instance) until answered 2xx: the key makes it once.
                for attempt in 0.. {
                    let base = {
                        let bases = bases.lock().await;
                        bases[attempt % bases.len()].clone()
                    };
                    let sent = http
                        .post(format!("{base}/v1/queues/{q}/tasks"))
                        .header("idempotency-key", &key)
                        .json(&json!({"payload": {"key": key}, "lease_ms": 1500}))
                        .send()
                        .await;
                    if let Ok(response) = sent
                        && response.status().is_success()
                    {
                        let body: Value = response.json().await.expect("body");
                        let id = body["id"].as_str().expect("id").to_owned();
                        seen.lock().await.submitted.insert(key.clone(), id);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for w in 0..12 {
        let (bases, seen, q, stop) = (bases.clone(), seen.clone(), q.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            let mut turn = w;
            while !stop.load(Ordering::Relaxed) {
                turn += 1;
                let base = {
                    let bases = bases.lock().await;
                    bases[turn % bases.len()].clone()
                };
                let body = json!({"max_tasks": 1 + w % 3, "worker": format!("w{w}")});
                let Some((StatusCode::OK, leased)) =
                    post(&http, format!("{base}/v1/queues/{q}/leases"), &body).await
                else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                for lease in leased["leases"].as_array().into_iter().flatten() {
                    let id = lease["task"]["id"].as_str().expect("id");
                    let url = format!("{base}/v1/queues/{q}/tasks/{id}/ack");
                    let ack = http
                        .post(url)
                        .json(&json!({"lease_id": lease["lease_id"]}))
                        .send()
                        .await;
                    if let Ok(response) = ack
                        && response.status() == StatusCode::OK
                    {
                        let replay = response.headers().get("idempotent-replayed").is_some();
                        if !replay {
                            *seen
                                .lock()
                                .await
                                .completions
                                .entry(id.to_owned())
                                .or_default() += 1;
                        }
                    }
                }
            }
        }));
    }

    let seen_ref = &seen;
    let submitted_at_least = |n: usize| async move {
        eventually("the load to get going", || async move {
            (seen_ref.lock().await.submitted.len() >= n).then_some(())
        })
        .await
    };
    submitted_at_least(60).await;
    bases.lock().await.retain(|base| *base != a.base);
    a.signal("KILL");
    submitted_at_least(160).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();
    // Every producer ends once each of its tasks was answered 2xx.
    for producer in load.drain(..6) {
        tokio::time::timeout(Duration::from_secs(60), producer)
            .await
            .expect("the producers to finish within a minute")
            .expect("producer");
    }
    let total = 6 * PER_PRODUCER;
    let http = client();
    let (base, q_ref) = (b.base.clone(), &q);
    eventually("every submitted task to be completed", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/v1/queues/{q_ref}");
            let stats: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            (stats["counts"]["completed"].as_u64() == Some(total as u64)).then_some(())
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in load {
        worker.await.expect("worker");
    }

    // Calls did travel together on the instance that lived.
    assert!(gauge(&b, "taskgate_redis_batches_total").await > 0.0);
    let seen = seen.lock().await;
    assert_eq!(seen.submitted.len(), total);
    for (key, id) in &seen.submitted {
        let url = format!("{base}/v1/queues/{q}/tasks/{id}");
        let task: Value = http
            .get(url)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("task");
        assert_eq!(task["state"], "completed", "{key}: {task}");
        assert_eq!(task["payload"]["key"], key.as_str());
    }
    for (id, times) in &seen.completions {
        assert_eq!(*times, 1, "task {id} was completed {times} times");
    }
}
