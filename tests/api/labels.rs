//! Worker labels and task requirements: a task is leased only by a worker whose labels include
//! all it requires, with both strategies, groups beside it, several instances, multi-queue
//! leases and long polls (woken only by tasks they can take); GET shows what a task requires.
//! (The cap, checked input, the workers view and explain: `requirements.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Deadline, RedisServer, TestApp, queue};
use crate::monitor::Monitor;

/// A second instance on the same Redis and key prefix as `app`.
async fn twin(app: &TestApp, redis: &RedisServer) -> TestApp {
    let prefix = format!("--key-prefix={}", app.prefix);
    TestApp::start_with(redis, &[&prefix]).await
}

/// The requirements of the `n`th task of the mix: none, gpu, region, or both.
fn mixed_requirements(n: usize) -> Option<Value> {
    match n % 4 {
        0 => None,
        1 => Some(json!({"gpu": "a100"})),
        2 => Some(json!({"region": "eu"})),
        _ => Some(json!({"gpu": "a100", "region": "eu"})),
    }
}

/// Whether `labels` include every requirement of `task` (as GET shows it).
fn satisfies(labels: &Value, task: &Value) -> bool {
    let Some(required) = task["requires"].as_object() else {
        return true;
    };
    required.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// 1,000 mixed tasks (needing nothing, a GPU, the EU or both; three in eight of them in five
/// groups) and four workers on two instances: every task completes once, and no worker ever
/// gets a task its labels do not satisfy. Under `fair` (the groups take turns with the tasks
/// without one) and then `priority`, each worker leasing up to 10 at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_worker_gets_a_task_its_labels_do_not_satisfy_under_fair() {
    mixed_work("fair").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_worker_gets_a_task_its_labels_do_not_satisfy_under_priority() {
    mixed_work("priority").await;
}

async fn mixed_work(strategy: &str) {
    let first = Arc::new(TestApp::start().await);
    let second = Arc::new(twin(&first, RedisServer::shared()).await);
    let q = queue(&format!("labels-mix-{strategy}"));
    first.patch_policy(&q, json!({"strategy": strategy})).await;
    let tasks: Vec<Value> = (0..1000)
        .map(|n| {
            let mut task = json!({"payload": n, "priority": (n % 3) as i64});
            if n % 8 >= 5 {
                task["group"] = json!(format!("tenant-{}", n % 5));
            }
            if let Some(requires) = mixed_requirements(n) {
                task["requires"] = requires;
            }
            task
        })
        .collect();
    for chunk in tasks.chunks(500) {
        let reply = second
            .post(
                &format!("/v1/queues/{q}/tasks:batch"),
                json!({"tasks": chunk}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            reply.body["results"]
                .as_array()
                .expect("results")
                .iter()
                .all(|r| r["status"] == 201),
            "{}",
            reply.body
        );
    }
    let workers = [
        ("both", json!({"gpu": "a100", "region": "eu"}), &first),
        ("gpu", json!({"gpu": "a100"}), &second),
        ("eu", json!({"region": "eu", "rack": "7"}), &first),
        ("plain", json!({}), &second),
    ];
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Deadline::after(Duration::from_secs(60));
    let mut running = Vec::new();
    for (name, labels, app) in workers {
        let (app, q, done, deadline) = ((*app).clone(), q.clone(), done.clone(), deadline);
        running.push(tokio::spawn(async move {
            let mut wrong = Vec::new();
            let mut got = 0;
            while done.load(Ordering::SeqCst) < 1000 {
                deadline.check("all 1000 tasks completed");
                let body =
                    json!({"worker": name, "labels": labels, "max_tasks": 10, "wait_ms": 200});
                for lease in app.lease(&q, body).await {
                    if !satisfies(&labels, &lease["task"]) {
                        wrong.push(lease["task"].clone());
                    }
                    let acked = app.worker_call(&lease, "ack", json!({})).await;
                    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
                    done.fetch_add(1, Ordering::SeqCst);
                    got += 1;
                }
            }
            (name, got, wrong)
        }));
    }
    let mut total = 0;
    for worker in running {
        let (name, got, wrong) = worker.await.expect("worker");
        assert!(
            wrong.is_empty(),
            "{name} got tasks it may not take: {wrong:?}"
        );
        assert!(got > 0, "{name} got nothing");
        total += got;
    }
    assert_eq!(total, 1000);
    let stats = first.queue_stats(&q).await;
    assert_eq!(stats["counts"]["completed"], 1000, "{stats}");
}

/// A GPU worker's long poll is woken by a GPU task submitted on another instance and gets it
/// within 100 ms; a CPU worker waiting beside it is not woken by that task (its lease script
/// runs once, for the plain task that ends its wait, as `MONITOR` shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_poll_is_woken_only_by_tasks_it_can_take() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &[]).await);
    let other = Arc::new(twin(&app, &redis).await);
    let q = queue("labels-wake");
    other
        .submit(&q, json!({"payload": "makes the queue"}))
        .await;
    app.lease_one(&q).await;
    let poll = |app: Arc<TestApp>, worker: &'static str, labels: Value| {
        let q = q.clone();
        tokio::spawn(async move {
            let body = json!({"worker": worker, "labels": labels, "wait_ms": 10000});
            let reply = app.post(&format!("/v1/queues/{q}/leases"), body).await;
            (reply, Instant::now())
        })
    };
    // One waiter per instance, so neither skips its first look (an instance that just found
    // the queue empty trusts that until a message comes).
    let gpu = poll(app.clone(), "gpu-waiter", json!({"gpu": "a100"}));
    let cpu = poll(other.clone(), "cpu-waiter", json!({}));
    let monitor = Monitor::start(&redis).await;
    crate::harness::eventually("both waiters to have asked once, and listen", || async {
        let workers = app.get(&format!("/v1/queues/{q}/workers")).await.body;
        let names = workers["workers"].as_array().map_or(0, Vec::len);
        let listening = app.subscriptions(&redis, &q).await >= 2;
        (names == 2 && listening).then_some(())
    })
    .await;
    monitor.clear();

    let gpu_task = other
        .submit(
            &q,
            json!({"payload": "render", "requires": {"gpu": "a100"}}),
        )
        .await;
    let submitted = Instant::now();
    let (reply, answered) = gpu.await.expect("gpu waiter");
    assert_eq!(
        reply.body["leases"][0]["task"]["id"], gpu_task["id"],
        "{}",
        reply.body
    );
    let late = answered.saturating_duration_since(submitted);
    assert!(
        late < Duration::from_millis(100),
        "the GPU waiter answered {late:?} after"
    );
    assert!(
        !cpu.is_finished(),
        "the CPU waiter answered a task it cannot take"
    );

    let plain = other.submit(&q, json!({"payload": "anyone"})).await;
    let (reply, _) = cpu.await.expect("cpu waiter");
    assert_eq!(
        reply.body["leases"][0]["task"]["id"], plain["id"],
        "{}",
        reply.body
    );
    monitor.sync(&redis).await;
    let (calls, _) = monitor.scripts_carrying(&["cpu-waiter".to_owned()]);
    assert_eq!(
        calls, 1,
        "the CPU waiter looked again when the GPU task came"
    );
}

/// Under `priority`, a labelled worker takes the best task it may, whatever index holds it:
/// a GPU task of priority 5, then a grouped task of 3, then a plain one of 0; an unlabelled
/// worker skips the GPU task. GET shows what a task requires.
#[tokio::test]
async fn priority_orders_tasks_with_and_without_requirements_together() {
    let app = TestApp::start().await;
    let q = queue("labels-order");
    let plain = app.submit(&q, json!({"payload": "plain"})).await;
    let grouped = app
        .submit(
            &q,
            json!({"payload": "grouped", "group": "g", "priority": 3}),
        )
        .await;
    let gpu = app
        .submit(
            &q,
            json!({"payload": "gpu", "requires": {"gpu": "a100"}, "priority": 5}),
        )
        .await;
    assert_eq!(
        app.task(&q, gpu["id"].as_str().expect("id")).await["requires"],
        json!({"gpu": "a100"})
    );

    let grouped_gpu = app
        .submit(
            &q,
            json!({"payload": "grouped gpu", "group": "h", "requires": {"gpu": "a100"}, "priority": 4}),
        )
        .await;

    let cpu = app.lease(&q, json!({"max_tasks": 1})).await;
    assert_eq!(cpu[0]["task"]["id"], grouped["id"]);
    let fail = app
        .worker_call(&cpu[0], "fail", json!({"error": "again", "retry_in_ms": 0}))
        .await;
    assert_eq!(fail.status, StatusCode::OK, "{}", fail.body);
    let leases = app
        .lease(&q, json!({"max_tasks": 4, "labels": {"gpu": "a100"}}))
        .await;
    let ids: Vec<&Value> = leases.iter().map(|l| &l["task"]["id"]).collect();
    assert_eq!(
        ids,
        [&gpu["id"], &grouped_gpu["id"], &grouped["id"], &plain["id"]]
    );
}

/// Within a group, tasks keep the group's order: while its next task requires a GPU, a worker
/// without one passes the group by (and takes other work), and the group's later tasks wait;
/// once a GPU worker has taken that task, the next one goes to anyone. Under both strategies.
#[tokio::test]
async fn a_group_whose_next_task_needs_labels_is_passed_by_the_others() {
    let app = TestApp::start().await;
    for strategy in ["fair", "priority"] {
        let q = queue(&format!("labels-hol-{strategy}"));
        app.patch_policy(&q, json!({"strategy": strategy})).await;
        let first = app
            .submit(
                &q,
                json!({"payload": 1, "group": "t", "requires": {"gpu": "a100"}}),
            )
            .await;
        let second = app.submit(&q, json!({"payload": 2, "group": "t"})).await;
        let other = app.submit(&q, json!({"payload": 3, "group": "u"})).await;
        let cpu = app.lease(&q, json!({"max_tasks": 5})).await;
        let ids: Vec<&Value> = cpu.iter().map(|l| &l["task"]["id"]).collect();
        assert_eq!(ids, [&other["id"]], "{strategy}: the CPU worker");
        let gpu = app
            .lease(&q, json!({"max_tasks": 1, "labels": {"gpu": "a100"}}))
            .await;
        assert_eq!(
            gpu[0]["task"]["id"], first["id"],
            "{strategy}: the GPU worker"
        );
        let cpu = app.lease(&q, json!({"max_tasks": 5})).await;
        let ids: Vec<&Value> = cpu.iter().map(|l| &l["task"]["id"]).collect();
        assert_eq!(ids, [&second["id"]], "{strategy}: the CPU worker, after");
    }
}

/// A multi-queue lease carries its labels to every queue it lists.
#[tokio::test]
async fn a_multi_queue_lease_applies_its_labels_on_each_queue() {
    let app = TestApp::start().await;
    let (a, b) = (queue("labels-a"), queue("labels-b"));
    let gpu = app
        .submit(&a, json!({"payload": "gpu", "requires": {"gpu": "a100"}}))
        .await;
    let plain = app.submit(&b, json!({"payload": "plain"})).await;
    let body = json!({"queues": [a, b], "max_tasks": 2});
    let unlabelled = app.post("/v1/leases", body).await;
    assert_eq!(unlabelled.status, StatusCode::OK, "{}", unlabelled.body);
    let leases = unlabelled.body["leases"].as_array().expect("leases");
    assert_eq!(leases.len(), 1, "{}", unlabelled.body);
    assert_eq!(leases[0]["task"]["id"], plain["id"]);
    let body = json!({"queues": [a, b], "max_tasks": 2, "labels": {"gpu": "a100"}});
    let labelled = app.post("/v1/leases", body).await;
    let leases = labelled.body["leases"].as_array().expect("leases");
    assert_eq!(leases.len(), 1, "{}", labelled.body);
    assert_eq!(leases[0]["task"]["id"], gpu["id"]);
}
