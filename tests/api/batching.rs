//! Natural batching (`store/lanes.rs`): concurrent calls of one kind on one queue travel to
//! Redis together, and each caller still gets exactly its own answer. To make batches certain
//! rather than likely, Redis holds writes back (`CLIENT PAUSE WRITE`) while the calls arrive:
//! the first is then on its way and the others wait in their lane (the
//! `taskgate_redis_calls_waiting` gauge says they do) until Redis lets go. `MONITOR` shows how
//! many script calls carried them and that each call travelled exactly once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{REPLICATED, RedisServer, Reply, TestApp, eventually, queue};
use crate::monitor::Monitor;
use crate::replication::replica_of;

pub const CALLERS: usize = 50;

/// A Redis of the test's own, an app on it with no reaper (whose writes would wait in the
/// pause too), and a queue.
pub async fn setup(name: &str) -> (RedisServer, Arc<TestApp>, String) {
    let redis = RedisServer::start();
    let flags = [
        "--reaper-interval-ms=0",
        "--redis-response-timeout-ms=20000",
    ];
    let app = Arc::new(TestApp::start_with(&redis, &flags).await);
    warm(&app).await;
    (redis, app, queue(name))
}

/// Loads every script the tests here count into Redis (each its function library), so that no
/// first call's load and retry shows as a second script call.
pub async fn warm(app: &TestApp) {
    let q = queue("warm");
    let tasks = json!({"tasks": [{"payload": 1}, {"payload": 2}, {"payload": 3}]});
    assert_eq!(
        app.post(&format!("/v1/queues/{q}/tasks:batch"), tasks)
            .await
            .status,
        StatusCode::OK
    );
    app.submit(&q, json!({"payload": 4})).await;
    let leases = app.lease(&q, json!({"max_tasks": 4})).await;
    assert_eq!(leases.len(), 4);
    let calls = [
        ("heartbeat", json!({})),
        ("ack", json!({"result": 1})),
        ("ack", json!({})),
        ("fail", json!({"error": "e"})),
    ];
    for ((action, body), lease) in calls.into_iter().zip(&leases) {
        assert_eq!(
            app.worker_call(lease, action, body).await.status,
            StatusCode::OK
        );
    }
    let acks =
        json!({"acks": [{"id": leases[0]["task"]["id"], "lease_id": leases[0]["lease_id"]}]});
    assert_eq!(
        app.post(&format!("/v1/queues/{q}/acks"), acks).await.status,
        StatusCode::OK
    );
}

/// The calls waiting in their lanes now (the gauge is the process's, shared by every app).
pub async fn calls_waiting(app: &TestApp) -> f64 {
    let url = format!("{}/metrics", app.base);
    let response = app.client.get(url).send().await.expect("metrics");
    let text = response.text().await.expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("taskgate_redis_calls_waiting "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the calls_waiting gauge")
}

/// Runs `calls` at once while Redis holds writes back, until all but the first of each of
/// `lanes` lanes wait in their lane; then lets Redis go. Their replies, in order.
pub async fn together<F>(
    redis: &RedisServer,
    app: &TestApp,
    calls: Vec<F>,
    lanes: usize,
) -> Vec<Reply>
where
    F: Future<Output = Reply> + Send + 'static,
{
    // The gauge is the process's: other tests' calls could only make it reach the count early,
    // never keep it from reaching it; the tests that hold calls back take turns.
    let waiting = (calls.len() - lanes) as f64;
    // One at a time: the gauge counts every test's waiting calls, and these hold many.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let () = redis.cmd(&["CLIENT", "PAUSE", "30000", "WRITE"]).await;
    let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    eventually("the calls to wait in their lanes", || async move {
        (calls_waiting(app).await >= waiting).then_some(())
    })
    .await;
    let () = redis.cmd(&["CLIENT", "UNPAUSE"]).await;
    let mut replies = Vec::new();
    for handle in handles {
        replies.push(handle.await.expect("join"));
    }
    replies
}

/// POSTs `body` to `path` (a queue's tasks) with an `Idempotency-Key`.
async fn submit_keyed(app: &TestApp, path: &str, body: Value, key: &str) -> Reply {
    let key = [("idempotency-key", key)];
    app.request_with(Method::POST, path, Some(&body), &key)
        .await
}

pub fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// Asserts fewer script calls than calls carried `markers`, and each exactly `times[i]` times.
pub fn assert_batched(monitor: &Monitor, markers: &[String], times: impl Fn(usize) -> usize) {
    let (scripts, carried) = monitor.scripts_carrying(markers);
    assert!(
        scripts < markers.len(),
        "{scripts} script calls for {} calls",
        markers.len()
    );
    for (n, count) in carried.iter().enumerate() {
        assert_eq!(
            *count,
            times(n),
            "marker {} travelled {count} times",
            markers[n]
        );
    }
}

/// 50 concurrent submits: each gets its own task (read back by id), the repeats of earlier
/// keys replay their own earlier task, and the one whose key another payload holds is refused
/// alone; fewer script calls than submits carried them, each exactly once.
#[tokio::test]
async fn concurrent_submits_each_get_their_own_task_replay_or_refusal() {
    let (redis, app, q) = setup("together-submit").await;
    let key = |n: usize| format!("{q}-key-{n}");
    let path = format!("/v1/queues/{q}/tasks");
    let mut earlier = HashMap::new();
    for n in CALLERS / 2..CALLERS {
        let reply = submit_keyed(&app, &path, json!({"payload": {"n": n}}), &key(n)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        earlier.insert(n, id(&reply.body));
    }
    let monitor = Monitor::start(&redis).await;
    // Caller 24 sends caller 25's key with another payload.
    let key_of = |n: usize| if n == 24 { 25 } else { n };
    let calls = (0..CALLERS)
        .map(|n| {
            let (app, path, key) = (app.clone(), path.clone(), key(key_of(n)));
            async move { submit_keyed(&app, &path, json!({"payload": {"n": n}}), &key).await }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    for (n, reply) in replies.iter().enumerate() {
        if n == 24 {
            let problem = reply.assert_problem(422, "validation");
            assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
        } else if n < CALLERS / 2 {
            assert_eq!(reply.status, StatusCode::CREATED, "{n}: {}", reply.body);
            assert!(!replayed(reply), "{n}");
            let task = app.task(&q, &id(&reply.body)).await;
            assert_eq!(task["payload"], json!({"n": n}), "{n}");
        } else {
            assert!(replayed(reply), "{n}: {}", reply.body);
            assert_eq!(id(&reply.body), earlier[&n], "{n}");
        }
    }
    monitor.sync(&redis).await;
    let markers: Vec<String> = (0..CALLERS).map(key).collect();
    assert_batched(&monitor, &markers, |n| match n {
        24 => 0,
        25 => 2,
        _ => 1,
    });
}

/// 50 concurrent batch submits of two items each, one item refused (its key is held by another
/// payload): each request gets its own items' tasks and that item alone is refused.
#[tokio::test]
async fn concurrent_batch_submits_each_get_their_own_items() {
    let (redis, app, q) = setup("together-batch").await;
    let path = format!("/v1/queues/{q}/tasks:batch");
    let key = |n: usize, i: usize| format!("{q}-key-{n}-{i}");
    let held = json!({"tasks": [{"payload": "first", "idempotency_key": key(7, 1)}]});
    assert_eq!(app.post(&path, held).await.status, StatusCode::OK);
    let monitor = Monitor::start(&redis).await;
    let calls = (0..CALLERS)
        .map(|n| {
            let (app, path) = (app.clone(), path.clone());
            let items: Vec<Value> = (0..2)
                .map(|i| json!({"payload": {"n": n, "i": i}, "idempotency_key": key(n, i)}))
                .collect();
            async move { app.post(&path, json!({"tasks": items})).await }
        })
        .collect();
    let replies = together(&redis, &app, calls, 1).await;
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply.status, StatusCode::OK, "{n}: {}", reply.body);
        let results = reply.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 2);
        for (i, result) in results.iter().enumerate() {
            if (n, i) == (7, 1) {
                assert_eq!(result["status"], 422, "{result}");
                continue;
            }
            assert_eq!(result["status"], 201, "{n}/{i}: {result}");
            let task = app.task(&q, &id(&result["task"])).await;
            assert_eq!(task["payload"], json!({"n": n, "i": i}));
        }
    }
    monitor.sync(&redis).await;
    let markers: Vec<String> = (0..CALLERS).map(|n| key(n, 0)).collect();
    assert_batched(&monitor, &markers, |_| 1);
}

/// One call at a time, nothing waits: exactly one script call per request, as before batching.
#[tokio::test]
async fn calls_one_at_a_time_each_take_one_script_call() {
    let (redis, app, q) = setup("one-at-a-time").await;
    let path = format!("/v1/queues/{q}/tasks");
    let monitor = Monitor::start(&redis).await;
    let key = |n: usize| format!("{q}-key-{n}");
    let worker = |n: usize| format!("{q}-w-{n}");
    for n in 0..10 {
        let reply = submit_keyed(&app, &path, json!({"payload": n}), &key(n)).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let mut lease_ids = Vec::new();
    for n in 0..10 {
        let lease = app.lease(&q, json!({"worker": worker(n)})).await.remove(0);
        assert_eq!(
            app.worker_call(&lease, "ack", json!({})).await.status,
            StatusCode::OK
        );
        lease_ids.push(lease["lease_id"].as_str().expect("lease_id").to_owned());
    }
    monitor.sync(&redis).await;
    // A lease id travels with the lease that grants it and the ack that ends it.
    for (markers, calls) in [
        ((0..10).map(key).collect::<Vec<_>>(), 1),
        ((0..10).map(worker).collect(), 1),
        (lease_ids, 2),
    ] {
        let (scripts, carried) = monitor.scripts_carrying(&markers);
        assert_eq!(scripts, 10 * calls, "{markers:?}");
        assert!(carried.iter().all(|&n| n == calls), "{carried:?}");
    }
}

/// Replicated durability holds per caller when replicated writes travel together: with a
/// replica, each of 20 concurrent replicated submits is answered once the replica has its task;
/// they share fewer `WAIT`s than there were callers.
#[tokio::test]
async fn replicated_writes_travelling_together_each_wait_for_the_replica() {
    let master = RedisServer::start();
    let replica = replica_of(&master).await;
    let flags = [
        "--reaper-interval-ms=0",
        "--redis-response-timeout-ms=20000",
    ];
    let app = Arc::new(TestApp::start_with(&master, &flags).await);
    let q = queue("together-replicated");
    let monitor = Monitor::start(&master).await;
    let calls = (0..20)
        .map(|n| {
            let (app, path) = (app.clone(), format!("/v1/queues/{q}/tasks"));
            async move {
                let body = json!({"payload": n});
                app.request_with(Method::POST, &path, Some(&body), &[REPLICATED])
                    .await
            }
        })
        .collect();
    let replies = together(&master, &app, calls, 1).await;
    let ids: Vec<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            assert_eq!(reply.headers["taskgate-replicas"], "1");
            id(&reply.body)
        })
        .collect();
    // What each caller was told the replica had, it has.
    for id in &ids {
        let key = format!("{}:{{q:{q}}}:meta", app.prefix);
        let on_replica: Option<String> = replica.cmd(&["HGET", &key, id]).await;
        assert!(on_replica.is_some(), "task {id} is not on the replica");
    }
    monitor.sync(&master).await;
    let waits = monitor.lines_with("\"WAIT\"");
    assert!(waits < 20, "{waits} WAITs for 20 replicated submits");
}
