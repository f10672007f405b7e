//! Start deadlines: a task not leased within `start_within_ms` (or the policy's `start_ttl_ms`)
//! of becoming ready goes to `dead` unrun, with an `expired` entry in its history, counted in
//! the queue's totals and the metrics; the sweep ends it within its interval, a lease at the
//! boundary never hands out a task whose deadline has passed, and a lease behind many of them
//! stays bounded.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::explain::{codes, explain};
use crate::harness::{RedisServer, TestApp, eventually, ms, queue};

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
        // Read behind the API's back: a GET would settle the task itself, and this is the
        // sweep's work.
        let stored = app.stored_meta_when(&q, id, |m| m["state"] == "dead").await;
        let late = stored["finished_at"].as_i64().expect("finished_at") - deadline;
        assert!(
            (0..=SWEEP_BOUND_MS).contains(&late),
            "ended {late} ms after its deadline"
        );
        let dead = app.task(&q, id).await;
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
            .submit(&q, json!({"payload": round, "start_within_ms": 200}))
            .await;
        let id = task["id"].as_str().expect("id").to_owned();
        let deadline = ms(&task["start_deadline"]);
        // From 200 ms before the deadline to 190 ms after it, in steps of 10 ms: wide enough
        // that a loaded machine still sees both sides, fine enough to meet the boundary.
        tokio::time::sleep(Duration::from_millis(round * 10)).await;
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
    assert!(
        in_time > 0 && ended > 0,
        "both sides of the deadline: {in_time} in time, {ended} ended"
    );
}

/// More tasks past their start deadline than a lease call settles first (no sweep runs here):
/// each call's work stays bounded, and a call that ends them without finding a live task
/// says to ask again at once (`retry_after_ms` 0), never an empty answer like an empty queue's,
/// so the live task behind them is leased within a few calls.
#[tokio::test]
async fn a_lease_behind_many_passed_deadlines_is_told_to_ask_again() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("deadline-many");
    let expiring: Vec<_> = (0..90)
        .map(|n| json!({"payload": n, "priority": 5, "start_within_ms": 100}))
        .collect();
    let batch = app
        .post(
            &format!("/v1/queues/{q}/tasks:batch"),
            json!({ "tasks": expiring }),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
    let live = app.submit(&q, json!({"payload": "live"})).await;
    let last = batch.body["results"][89]["task"].clone();
    let (app_ref, q_ref, last_ref) = (&app, &q, &last);
    eventually("the last start deadline to pass", || async move {
        let explained = explain(app_ref, q_ref, last_ref).await;
        (codes(&explained).first() == Some(&"start_deadline_passed")).then_some(())
    })
    .await;

    let mut calls = 0;
    let leased = loop {
        calls += 1;
        let reply = app.post(&format!("/v1/queues/{q}/leases"), json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if let Some(lease) = reply.body["leases"].as_array().and_then(|l| l.first()) {
            break lease.clone();
        }
        assert_eq!(
            reply.body["retry_after_ms"], 0,
            "call {calls}: {}",
            reply.body
        );
        assert!(
            reply.headers.get("retry-after").is_none(),
            "ask again at once"
        );
        assert!(calls < 10, "no lease after {calls} calls");
    };
    assert_eq!(leased["task"]["id"], live["id"]);
    // 20 ended before leasing and 21 steps in each call: 90 take three calls, not one.
    assert!(calls >= 3, "one call ended {} tasks unbounded", 90);
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["expired"], 90, "{stats}");
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
