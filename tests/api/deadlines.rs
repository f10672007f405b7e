//! Start deadlines: a task not leased within `start_within_ms` (or the policy's `start_ttl_ms`)
//! of becoming ready goes to `dead` unrun, with an `expired` entry in its history, counted in
//! the queue's totals and the metrics; the sweep ends it within its interval, and a lease at the
//! boundary never hands out a task whose deadline has passed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, ms, queue};

fn deadlines_key(app: &TestApp, q: &str) -> String {
    format!("{}:{{q:{q}}}:deadlines", app.prefix)
}

/// The app's sweep runs every 100 ms; the slack covers a loaded machine's scheduling.
const SWEEP_BOUND_MS: i64 = 100 + 400;

#[tokio::test]
async fn tasks_nobody_leases_by_their_start_deadline_go_dead_as_expired() {
    let app = TestApp::start().await;
    let q = queue("deadline");
    let mut ids = Vec::new();
    for n in 0..5 {
        let task = app
            .submit(&q, json!({"payload": n, "start_within_ms": 500}))
            .await;
        assert_eq!(task["start_within_ms"], 500);
        assert_eq!(ms(&task["start_deadline"]) - ms(&task["created_at"]), 500);
        ids.push((
            task["id"].as_str().expect("id").to_owned(),
            ms(&task["start_deadline"]),
        ));
    }
    let plain = app.submit(&q, json!({"payload": "no deadline"})).await;
    assert!(plain.get("start_deadline").is_none());
    for (id, deadline) in &ids {
        let dead = app.task_when(&q, id, |t| t["state"] == "dead").await;
        let late = ms(&dead["finished_at"]) - deadline;
        assert!(
            (0..=SWEEP_BOUND_MS).contains(&late),
            "ended {late} ms after its deadline"
        );
        assert_eq!(dead["attempts"], 0, "no attempt was made");
        let entry = &dead["errors"][0];
        assert_eq!(entry["kind"], "expired");
        assert!(
            entry["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("not started")),
            "{dead}"
        );
    }
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["expired"], 5, "{stats}");
    assert_eq!(
        stats["counts"]["ready"], 1,
        "the task without a deadline waits on"
    );
    let deadlines: i64 = RedisServer::shared()
        .cmd(&["ZCARD", &deadlines_key(&app, &q)])
        .await;
    assert_eq!(deadlines, 0, "nothing left in the deadline index");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let line =
        format!("taskgate_task_transitions_total{{queue=\"{q}\",transition=\"start_expired\"}} 5");
    assert!(metrics.contains(&line), "{line} not in the metrics");

    // Redriven, it is ready again with a fresh deadline, and a worker in time gets it.
    let redriven = app
        .post(
            &format!("/v1/queues/{q}/dead:redrive"),
            json!({"ids": [ids[0].0]}),
        )
        .await;
    assert_eq!(redriven.status, StatusCode::OK, "{}", redriven.body);
    let ready = app.task(&q, &ids[0].0).await;
    assert_eq!(ready["state"], "ready");
    assert!(ms(&ready["start_deadline"]) > ms(&ready["created_at"]) + 500);
    let leased = app.lease(&q, json!({"max_tasks": 2})).await;
    let leased_ids: Vec<&str> = leased
        .iter()
        .filter_map(|l| l["task"]["id"].as_str())
        .collect();
    assert!(leased_ids.contains(&ids[0].0.as_str()), "{leased_ids:?}");
    assert!(
        leased[0]["task"].get("start_deadline").is_none(),
        "a leased task has none"
    );
}

#[tokio::test]
async fn the_policys_start_ttl_applies_to_tasks_without_their_own() {
    let app = TestApp::start().await;
    let q = queue("deadline-policy");
    let policy = app.patch_policy(&q, json!({"start_ttl_ms": 300})).await;
    assert_eq!(policy["policy"]["start_ttl_ms"], 300, "{policy}");
    let by_policy = app.submit(&q, json!({"payload": 1})).await;
    let own = app
        .submit(&q, json!({"payload": 2, "start_within_ms": 60_000}))
        .await;
    assert_eq!(
        ms(&by_policy["start_deadline"]) - ms(&by_policy["created_at"]),
        300
    );
    assert_eq!(ms(&own["start_deadline"]) - ms(&own["created_at"]), 60_000);
    let id = by_policy["id"].as_str().expect("id");
    app.task_when(&q, id, |t| t["state"] == "dead").await;
    let still = app.task(&q, own["id"].as_str().expect("id")).await;
    assert_eq!(still["state"], "ready", "its own deadline comes first");
    // A delayed task's deadline counts from when it becomes ready, not from its submit.
    let delayed = app
        .submit(
            &q,
            json!({"payload": 3, "delay_ms": 400, "start_within_ms": 1_000}),
        )
        .await;
    assert!(
        delayed.get("start_deadline").is_none(),
        "scheduled: no deadline yet"
    );
    let ready = app
        .task_when(&q, delayed["id"].as_str().expect("id"), |t| {
            t["state"] == "ready"
        })
        .await;
    assert!(ms(&ready["start_deadline"]) >= ms(&delayed["run_at"]) + 1_000);
}

/// Leases at the boundary, with no sweep to end the tasks first: a task whose deadline passed
/// is never leased, whichever of the lease and the deadline comes first by the Redis clock.
#[tokio::test]
async fn a_lease_racing_the_deadline_never_gets_an_expired_task() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("deadline-race");
    let (mut in_time, mut ended) = (0, 0);
    for round in 0..40u64 {
        let task = app
            .submit(&q, json!({"payload": round, "start_within_ms": 30}))
            .await;
        let id = task["id"].as_str().expect("id").to_owned();
        let deadline = ms(&task["start_deadline"]);
        // From 10 ms before the deadline to 10 ms after it, in steps of 0.5 ms.
        tokio::time::sleep(Duration::from_micros(20_000 + round * 500)).await;
        let leases = app.lease(&q, json!({"max_tasks": 1})).await;
        if let Some(lease) = leases.first() {
            assert_eq!(lease["task"]["id"], id.as_str());
            let granted = ms(&lease["expires_at"]) - lease["expires_in_ms"].as_i64().expect("ms");
            assert!(
                granted < deadline,
                "leased {} ms after its deadline",
                granted - deadline
            );
            in_time += 1;
            let acked = app.worker_call(lease, "ack", json!({})).await;
            assert_eq!(acked.status, StatusCode::OK);
        } else {
            let dead = app.task(&q, &id).await;
            assert_eq!(dead["state"], "dead", "{dead}");
            assert_eq!(dead["errors"][0]["kind"], "expired");
            ended += 1;
        }
    }
    assert_eq!(in_time + ended, 40);
    eprintln!("leased in time: {in_time}, ended at the deadline: {ended}");
}

/// Grouped tasks that expire leave their group as finished ones do: not held, not listed, and
/// the group's next task goes out.
#[tokio::test]
async fn an_expired_grouped_task_leaves_its_group_in_order() {
    let app = TestApp::start().await;
    let q = queue("deadline-group");
    app.patch_policy(&q, json!({"strategy": "fair", "groups": {"ordered": true}}))
        .await;
    let first = app
        .submit(
            &q,
            json!({"payload": 1, "group": "g", "start_within_ms": 200}),
        )
        .await;
    let second = app.submit(&q, json!({"payload": 2, "group": "g"})).await;
    app.task_when(&q, first["id"].as_str().expect("id"), |t| {
        t["state"] == "dead"
    })
    .await;
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], second["id"], "the group goes on");
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    let groups = app.get(&format!("/v1/queues/{q}/groups")).await;
    assert_eq!(groups.status, StatusCode::OK);
    assert_eq!(groups.body["groups"], json!([]), "{}", groups.body);
}

#[tokio::test]
async fn a_cancelled_task_leaves_the_deadline_index() {
    let app = TestApp::start().await;
    let q = queue("deadline-cancel");
    let task = app
        .submit(&q, json!({"payload": 1, "start_within_ms": 60_000}))
        .await;
    let key = deadlines_key(&app, &q);
    let before: i64 = RedisServer::shared().cmd(&["ZCARD", &key]).await;
    assert_eq!(before, 1);
    let cancelled = app
        .delete(&format!(
            "/v1/queues/{q}/tasks/{}",
            task["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let after: i64 = RedisServer::shared().cmd(&["ZCARD", &key]).await;
    assert_eq!(after, 0);
}
