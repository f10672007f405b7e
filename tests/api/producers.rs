//! What producers, web pages and waiting workers rely on: idempotent and batch submit,
//! long-poll leases woken at once from any instance (holding no Redis connection while they
//! wait), result waits, task event streams, CORS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

async fn submit_with_key(app: &TestApp, q: &str, key: &str, body: &Value) -> crate::harness::Reply {
    app.request_with(
        Method::POST,
        &format!("/v1/queues/{q}/tasks"),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

/// A second instance on the same data.
async fn second_instance(app: &TestApp) -> TestApp {
    let prefix = format!("--key-prefix={}", app.prefix);
    TestApp::start_with(RedisServer::shared(), &[&prefix]).await
}

/// The first submit with a key is 201; a repeat is 200 with the same task and
/// `Idempotent-Replayed`; the same key with another body (another payload, or the same one in
/// a group) is 422 naming the header; 20 concurrent submits with one key through two
/// instances create exactly one task.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotent_submits_create_one_task() {
    let app = Arc::new(TestApp::start().await);
    let other = Arc::new(second_instance(&app).await);
    let q = queue("idempotent");
    let body = json!({"payload": {"order": 42}});
    let first = submit_with_key(&app, &q, "order-42", &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = submit_with_key(&other, &q, "order-42", &body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["location"], first.headers["location"]);
    let changed = submit_with_key(&app, &q, "order-42", &json!({"payload": {"order": 43}})).await;
    let problem = changed.assert_problem(422, "validation");
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let grouped = json!({"payload": {"order": 42}, "group": "acct-9"});
    let regrouped = submit_with_key(&app, &q, "order-42", &grouped).await;
    let problem = regrouped.assert_problem(422, "validation");
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let bad_key = submit_with_key(&app, &q, "tab\tkey", &body).await;
    bad_key.assert_problem(422, "validation");

    let race = queue("idempotent-race");
    let mut submits = Vec::new();
    for n in 0..20 {
        let app = if n % 2 == 0 {
            app.clone()
        } else {
            other.clone()
        };
        let (race, body) = (race.clone(), body.clone());
        submits.push(tokio::spawn(async move {
            let reply = submit_with_key(&app, &race, "one-key", &body).await;
            (reply.status, reply.body["id"].clone())
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for submit in submits {
        let (status, id) = submit.await.expect("submit");
        created += usize::from(status == StatusCode::CREATED);
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        ids.insert(id.to_string());
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(app.queue_stats(&race).await["totals"]["submitted"], 1);
}

/// A batch of 1000 answers per task in request order; 3 invalid tasks are reported with their
/// index while the other 997 are stored; 1001 tasks are refused whole, writing nothing.
#[tokio::test]
async fn batch_submits_answer_per_task_in_order() {
    let redis = RedisServer::shared();
    let app = TestApp::start().await;
    let q = queue("batch");
    let path = format!("/v1/queues/{q}/tasks:batch");
    let tasks: Vec<Value> = (0..1000).map(|n| json!({"payload": n})).collect();
    let reply = app.post(&path, json!({"tasks": tasks})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1000);
    for (n, result) in results.iter().enumerate() {
        assert_eq!(result["index"], n);
        assert_eq!(result["status"], 201);
        assert_eq!(result["task"]["payload"], n);
    }
    assert_eq!(app.queue_stats(&q).await["counts"]["ready"], 1000);

    let q = queue("batch-mixed");
    let path = format!("/v1/queues/{q}/tasks:batch");
    let mut tasks: Vec<Value> = (0..1000).map(|n| json!({"payload": n})).collect();
    tasks[10] = json!({"payload": 10, "priority": 5000});
    tasks[500] = json!({"priority": 1});
    tasks[999] = json!({"payload": 999, "delay_ms": -1, "bogus": true});
    let reply = app.post(&path, json!({"tasks": tasks})).await;
    let results = reply.body["results"].as_array().expect("results");
    let refused: Vec<(u64, u64)> = results
        .iter()
        .filter(|r| r["status"] != 201)
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(0),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(refused, [(10, 422), (500, 422), (999, 422)]);
    assert_eq!(
        results[999]["error"]["errors"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(app.queue_stats(&q).await["counts"]["ready"], 997);

    let q = queue("batch-too-big");
    let tasks: Vec<Value> = (0..1001).map(|n| json!({"payload": n})).collect();
    let reply = app
        .post(
            &format!("/v1/queues/{q}/tasks:batch"),
            json!({"tasks": tasks}),
        )
        .await;
    reply.assert_problem(422, "validation");
    let keys: Vec<String> = redis
        .cmd(&["KEYS", &format!("{}:{{q:{q}}}:*", app.prefix)])
        .await;
    assert!(keys.is_empty(), "{keys:?}");
}

/// A long-poll lease started before the submit gets the task within 100 ms of the submit,
/// which goes through a second instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_poll_gets_a_task_submitted_elsewhere_at_once() {
    let app = Arc::new(TestApp::start().await);
    let other = second_instance(&app).await;
    let q = queue("long-poll");
    let waiting = {
        let (app, q) = (app.clone(), q.clone());
        tokio::spawn(async move {
            let reply = app
                .post(&format!("/v1/queues/{q}/leases"), json!({"wait_ms": 10000}))
                .await;
            (reply, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task = other.submit(&q, json!({"payload": "wake up"})).await;
    let submitted = Instant::now();
    let (reply, returned) = waiting.await.expect("waiter");
    assert_eq!(
        reply.body["leases"][0]["task"]["id"], task["id"],
        "{}",
        reply.body
    );
    let late = returned.saturating_duration_since(submitted);
    assert!(
        late < Duration::from_millis(100),
        "the waiter answered {late:?} after the submit"
    );
}

/// 1000 long-polls wait at once against a pool of 4 connections: they hold no Redis
/// connection while they wait, a submit and a read meanwhile answer in milliseconds, and all
/// 1000 end with an empty list at the end of their wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_waiting_workers_cost_no_connections() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &["--redis-pool-size=4"]).await);
    let q = queue("many-waiters");
    let started = Instant::now();
    let waiters: Vec<_> = (0..1000)
        .map(|_| {
            let (app, q) = (app.clone(), q.clone());
            tokio::spawn(async move {
                app.post(&format!("/v1/queues/{q}/leases"), json!({"wait_ms": 2000}))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let clients: String = redis.cmd(&["INFO", "clients"]).await;
    let connected: u32 = clients
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients");
    let busy = queue("busy");
    let t = Instant::now();
    let task = app.submit(&busy, json!({"payload": 1})).await;
    app.task(&busy, task["id"].as_str().expect("id")).await;
    let submit_and_get = t.elapsed();
    let mut empty = 0;
    for waiter in waiters {
        let reply = waiter.await.expect("waiter");
        assert_eq!(reply.status, StatusCode::OK);
        empty += usize::from(reply.body["leases"] == json!([]));
    }
    let all_done = started.elapsed();
    println!(
        "1000 long-polls: {connected} Redis connections while waiting, submit+get {submit_and_get:?}, all answered after {all_done:?}"
    );
    assert_eq!(empty, 1000);
    assert!(
        connected <= 8,
        "{connected} connections to Redis while 1000 requests wait"
    );
    assert!(
        submit_and_get < Duration::from_millis(250),
        "{submit_and_get:?}"
    );
    // Each waits 2 s from when the server got it; a thousand take a moment to arrive.
    assert!(all_done < Duration::from_secs(8), "{all_done:?}");
}

/// 100 workers wait and 10 tasks arrive: exactly 10 workers get one each, at once; no task is
/// leased twice; the other 90 end empty at the end of their wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_as_many_waiters_as_tasks_are_woken() {
    let app = Arc::new(TestApp::start().await);
    let q = queue("fair");
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let (app, q) = (app.clone(), q.clone());
            tokio::spawn(async move {
                let reply = app
                    .post(&format!("/v1/queues/{q}/leases"), json!({"wait_ms": 3000}))
                    .await;
                (reply.body, Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks: Vec<Value> = (0..10).map(|n| json!({"payload": n})).collect();
    let submitted = app
        .post(
            &format!("/v1/queues/{q}/tasks:batch"),
            json!({"tasks": tasks}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK);
    let at = Instant::now();
    let mut leased = Vec::new();
    for waiter in waiters {
        let (body, returned) = waiter.await.expect("waiter");
        if let Some(lease) = body["leases"].as_array().and_then(|l| l.first()) {
            leased.push(lease["task"]["id"].to_string());
            let late = returned.saturating_duration_since(at);
            assert!(late < Duration::from_millis(500), "a task waited {late:?}");
        }
    }
    let distinct: HashSet<&String> = leased.iter().collect();
    assert_eq!((leased.len(), distinct.len()), (10, 10));
}

/// A waiting worker that goes away before a task arrives leases nothing: the task stays ready
/// for the next worker, first attempt untouched.
#[tokio::test]
async fn a_waiter_that_disconnects_leases_nothing() {
    let app = TestApp::start().await;
    let q = queue("gone-waiter");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let gone = impatient
        .post(format!("{}/v1/queues/{q}/leases", app.base))
        .json(&json!({"wait_ms": 10000}))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));
    let task = app.submit(&q, json!({"payload": 1})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = task["id"].as_str().expect("id");
    assert_eq!(
        app.stored_meta(&q, id).await.expect("meta")["state"],
        "ready"
    );
    assert_eq!(app.lease_one(&q).await["attempt"], 1);
}

/// A result wait answers within 100 ms of the ack; an event stream shows the task's life
/// (ready, leased, completed) and then ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_waits_for_a_result_and_follows_events() {
    let app = Arc::new(TestApp::start().await);
    let q = queue("await");
    let task = app.submit(&q, json!({"payload": "work"})).await;
    let id = task["id"].as_str().expect("id").to_owned();
    let events = reqwest::Client::new()
        .get(format!("{}/v1/queues/{q}/tasks/{id}/events", app.base))
        .send()
        .await
        .expect("events");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let waiting = {
        let (app, q, id) = (app.clone(), q.clone(), id.clone());
        tokio::spawn(async move {
            let reply = app
                .get(&format!("/v1/queues/{q}/tasks/{id}?wait_ms=10000"))
                .await;
            (reply, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lease = app.lease_one(&q).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.worker_call(&lease, "ack", json!({"result": "done"}))
        .await;
    let acked = Instant::now();
    let (reply, returned) = waiting.await.expect("waiter");
    assert_eq!(reply.body["state"], "completed");
    assert_eq!(reply.body["result"], "done");
    let late = returned.saturating_duration_since(acked);
    assert!(
        late < Duration::from_millis(100),
        "the result came {late:?} after the ack"
    );

    let stream = tokio::time::timeout(Duration::from_secs(10), events.text())
        .await
        .expect("the stream ended")
        .expect("stream body");
    let names: Vec<&str> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["ready", "leased", "completed"], "{stream}");
    let last = stream
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let last: Value = serde_json::from_str(last).expect("task json");
    assert_eq!(last["result"], "done");
}

/// A CORS preflight from an allowed origin is answered with the CORS headers a page needs;
/// one from another origin gets none.
#[tokio::test]
async fn cors_preflights_are_answered_for_allowed_origins_only() {
    let app = TestApp::start_with(
        RedisServer::shared(),
        &["--cors-origins=https://app.example.com"],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/v1/queues/q/tasks", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(headers.contains("idempotency-key"), "{headers}");
    let other = preflight("https://evil.example.org")
        .await
        .expect("preflight");
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let simple = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    assert!(
        simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap_or("")
            .contains("location")
    );
}
