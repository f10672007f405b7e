//! The workers view: each named worker with its labels, the leases it holds and what it did in
//! the window, the anonymous ones counted but not listed, every worker across queues, a worker
//! silent past the window gone from the view and then from Redis, and the window a setting.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// The named worker `name` in a workers answer.
fn worker<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {answer}"))
}

/// An app, and a queue named after `name` holding `n` ready tasks.
async fn queue_of(name: &str, n: usize) -> (TestApp, String) {
    let app = TestApp::start().await;
    let q = queue(name);
    for payload in 0..n {
        app.submit(&q, json!({ "payload": payload })).await;
    }
    (app, q)
}

/// (leases_held, leased, completed, failed) of a worker entry.
fn tally(entry: &Value) -> (u64, u64, u64, u64) {
    let n = |f: &str| {
        entry[f]
            .as_u64()
            .unwrap_or_else(|| panic!("{f} in {entry}"))
    };
    (n("leases_held"), n("leased"), n("completed"), n("failed"))
}

#[tokio::test]
async fn three_workers_show_their_leases_and_counts() {
    let (app, q) = queue_of("workers", 10).await;
    let a = app
        .lease(
            &q,
            json!({"worker": "gpu-a", "max_tasks": 3, "labels": {"gpu": "a100"}}),
        )
        .await;
    let b = app
        .lease(&q, json!({"worker": "cpu-b", "max_tasks": 2}))
        .await;
    let c = app
        .lease(
            &q,
            json!({"worker": "eu-c", "max_tasks": 1, "labels": {"region": "eu", "rack": "7"}}),
        )
        .await;
    let anonymous = app.lease(&q, json!({"max_tasks": 1})).await;
    assert_eq!((a.len(), b.len(), c.len(), anonymous.len()), (3, 2, 1, 1));
    for lease in &a[..2] {
        assert_eq!(
            app.worker_call(lease, "ack", json!({})).await.status,
            StatusCode::OK
        );
    }
    let failed = app
        .worker_call(&b[0], "fail", json!({"error": "oom"}))
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    let beat = app.worker_call(&c[0], "heartbeat", json!({})).await;
    assert_eq!(beat.status, StatusCode::OK);
    let cancelled = app
        .delete(&format!(
            "/v1/queues/{q}/tasks/{}",
            b[1]["task"]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);

    let reply = app.get(&format!("/v1/queues/{q}/workers")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let answer = reply.body;
    assert_eq!(
        answer["workers"].as_array().map(Vec::len),
        Some(3),
        "{answer}"
    );
    assert_eq!(tally(worker(&answer, "gpu-a")), (1, 3, 2, 0));
    assert_eq!(worker(&answer, "gpu-a")["labels"], json!({"gpu": "a100"}));
    assert_eq!(worker(&answer, "cpu-b")["labels"], json!({}));
    assert_eq!(
        worker(&answer, "eu-c")["labels"],
        json!({"rack": "7", "region": "eu"}),
        "a heartbeat keeps the labels of the last lease call"
    );
    assert_eq!(
        tally(worker(&answer, "cpu-b")),
        (0, 2, 0, 1),
        "a cancel frees, counts nothing"
    );
    assert_eq!(tally(worker(&answer, "eu-c")), (1, 1, 0, 0));
    assert!(
        worker(&answer, "eu-c")["last_seen"].as_str()
            >= worker(&answer, "cpu-b")["last_seen"].as_str(),
        "the heartbeat came last"
    );
    assert_eq!(tally(&answer["anonymous"]), (1, 1, 0, 0), "{answer}");
    assert_eq!(answer["window_ms"], 300_000);

    let all = app.get("/v1/workers").await;
    assert_eq!(all.status, StatusCode::OK);
    let a_everywhere = worker(&all.body, "gpu-a");
    assert!(
        a_everywhere["queues"]
            .as_array()
            .expect("queues")
            .contains(&json!(q)),
        "{a_everywhere}"
    );
}

#[tokio::test]
async fn a_worker_silent_past_the_window_disappears() {
    let app = TestApp::start().await;
    let q = queue("workers-silent");
    app.submit(&q, json!({"payload": 1})).await;
    app.lease(&q, json!({"worker": "gone", "max_tasks": 1}))
        .await;
    app.lease(&q, json!({"worker": "here", "max_tasks": 1}))
        .await;
    // Its last call six minutes ago, by the Redis clock: as if it had been silent since.
    let key = format!("{}:{{q:{q}}}:workers", app.prefix);
    let six_minutes_ago = RedisServer::shared().now_ms().await - 360_000;
    let _: i64 = RedisServer::shared()
        .cmd(&["ZADD", &key, "XX", &six_minutes_ago.to_string(), "gone"])
        .await;
    let answer = app.get(&format!("/v1/queues/{q}/workers")).await.body;
    let names: Vec<&str> = answer["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["here"], "{answer}");
    // The reaper's sweep forgets it, stats and all.
    let stats_key = format!("{}:{{q:{q}}}:wstats", app.prefix);
    eventually("the sweep to forget the silent worker", || async {
        let left: Option<String> = RedisServer::shared()
            .cmd(&["HGET", &stats_key, "gone"])
            .await;
        let score: Option<String> = RedisServer::shared().cmd(&["ZSCORE", &key, "gone"]).await;
        (left.is_none() && score.is_none()).then_some(())
    })
    .await;
}

/// The window is the queue's policy `workers_window_ms`: with 2 minutes, a worker silent for 3
/// is gone from the view (and its labels with it, at the sweep), one silent for 1 is listed,
/// and the answer says the window. A window under a minute or over an hour is refused.
#[tokio::test]
async fn the_window_is_a_policy_setting() {
    let app = TestApp::start().await;
    let q = queue("workers-window");
    app.submit(&q, json!({"payload": 1})).await;
    let policy = app
        .patch_policy(&q, json!({"workers_window_ms": 120_000}))
        .await;
    assert_eq!(policy["policy"]["workers_window_ms"], 120_000, "{policy}");
    for name in ["three", "one"] {
        app.lease(&q, json!({"worker": name, "labels": {"zone": "b"}}))
            .await;
    }
    let key = format!("{}:{{q:{q}}}:workers", app.prefix);
    let now_ms = RedisServer::shared().now_ms().await;
    for (name, ago) in [("three", 180_000), ("one", 60_000)] {
        let _: i64 = RedisServer::shared()
            .cmd(&["ZADD", &key, "XX", &(now_ms - ago).to_string(), name])
            .await;
    }
    let answer = app.get(&format!("/v1/queues/{q}/workers")).await.body;
    assert_eq!(answer["window_ms"], 120_000, "{answer}");
    let names: Vec<&str> = answer["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(names, ["one"], "{answer}");
    let labels_key = format!("{}:{{q:{q}}}:wlabels", app.prefix);
    eventually("the sweep to forget the silent worker's labels", || async {
        let left: Option<String> = RedisServer::shared()
            .cmd(&["HGET", &labels_key, "three"])
            .await;
        left.is_none().then_some(())
    })
    .await;
    for bad in [59_999, 3_600_001] {
        let body = json!({ "workers_window_ms": bad });
        let reply = app
            .request(
                reqwest::Method::PATCH,
                &format!("/v1/queues/{q}/policy"),
                Some(&body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(reply.body["errors"][0]["field"], "workers_window_ms");
    }
}

/// A worker polling a queue that does not exist leaves nothing behind.
#[tokio::test]
async fn polling_a_queue_that_does_not_exist_makes_no_key() {
    let app = TestApp::start().await;
    let q = queue("workers-nowhere");
    let leases = app
        .lease(&q, json!({"worker": "typo", "max_tasks": 1}))
        .await;
    assert!(leases.is_empty());
    let keys = app.keys(RedisServer::shared()).await;
    assert!(
        keys.iter().all(|k| !k.contains(&format!("{{q:{q}}}"))),
        "{keys:?}"
    );
    let missing = app.get(&format!("/v1/queues/{q}/workers")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A batch of acks for two workers' leases, in one script call: each worker's row counts all of
/// its own (each row is written once, at the end of the script call), and holds none after.
#[tokio::test]
async fn a_batch_of_acks_counts_each_workers_own() {
    let (app, q) = queue_of("workers-batch", 7).await;
    let a = app.lease(&q, json!({"worker": "a", "max_tasks": 4})).await;
    let b = app.lease(&q, json!({"worker": "b", "max_tasks": 3})).await;
    assert_eq!((a.len(), b.len()), (4, 3));
    let acks: Vec<Value> = (a.iter().chain(&b))
        .map(|l| json!({"id": l["task"]["id"], "lease_id": l["lease_id"]}))
        .collect();
    let reply = app
        .post(&format!("/v1/queues/{q}/acks"), json!({ "acks": acks }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let statuses: Vec<&Value> = (reply.body["results"].as_array().expect("results").iter())
        .map(|r| &r["status"])
        .collect();
    assert!(statuses.iter().all(|s| **s == 200), "{statuses:?}");
    let answer = app.get(&format!("/v1/queues/{q}/workers")).await.body;
    assert_eq!(tally(worker(&answer, "a")), (0, 4, 4, 0), "{answer}");
    assert_eq!(tally(worker(&answer, "b")), (0, 3, 3, 0), "{answer}");
}

/// The workers' rows are bookkeeping: a rows key of the wrong type (a hand edit) fails no
/// lease and no ack; they change the task's state as always, and only the counts are lost.
#[tokio::test]
async fn a_workers_row_key_of_the_wrong_type_fails_no_lease_or_ack() {
    let app = TestApp::start().await;
    let q = queue("workers-wrongtype");
    app.submit(&q, json!({"payload": 1})).await;
    let key = format!("{}:{{q:{q}}}:wstats", app.prefix);
    let () = RedisServer::shared()
        .cmd(&["SET", &key, "not a hash"])
        .await;
    let lease = app.lease_one(&q).await;
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.body["state"], "completed");
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["counts"]["completed"], 1, "{stats}");
}

/// A worker's row is written once per script call, replaying its steps in order: a worker whose
/// row is gone (forgotten by a sweep) while it held a lease that then expired, and whose next
/// lease call both reclaims that lease and grants a new one, holds the new lease in its new
/// row. The expiry came first, when the worker had no row, and counts nothing (summed instead,
/// it would have cancelled the new lease out: `leases_held` 0).
#[tokio::test]
async fn a_lease_call_that_reclaims_its_workers_expired_lease_counts_in_order() {
    let app = TestApp::start_with(RedisServer::shared(), &["--reaper-interval-ms=0"]).await;
    let q = queue("workers-in-order");
    for n in 0..2 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let first = app
        .lease(&q, json!({"worker": "x", "max_tasks": 1, "lease_ms": 1000}))
        .await;
    assert_eq!(first.len(), 1);
    let leased_at = RedisServer::shared().now_ms().await;
    let key = format!("{}:{{q:{q}}}:wstats", app.prefix);
    let removed: i64 = RedisServer::shared().cmd(&["HDEL", &key, "x"]).await;
    assert_eq!(removed, 1, "the row of x");
    eventually(
        "the first lease to expire by the Redis clock",
        || async move { (RedisServer::shared().now_ms().await > leased_at + 1000).then_some(()) },
    )
    .await;
    let second = app.lease(&q, json!({"worker": "x", "max_tasks": 1})).await;
    assert_eq!(second.len(), 1);
    let stats = app.queue_stats(&q).await;
    assert_eq!(
        stats["counts"]["leased"], 1,
        "the expired lease was reclaimed: {stats}"
    );
    let answer = app.get(&format!("/v1/queues/{q}/workers")).await.body;
    assert_eq!(tally(worker(&answer, "x")), (1, 1, 0, 0), "{answer}");
}
