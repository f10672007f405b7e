//! Dependencies between tasks (README, "Workflows"): a task submitted with `depends_on` waits
//! until its parents, in any queue, have finished; a diamond runs its last task once, after
//! both middles, with both results in its lease; each `on_dependency_failure` mode does what
//! it says when a parent dies; an unknown parent is refused with nothing stored; a parent that
//! has already finished counts at once; a waiting task can be cancelled.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// Submits `body` to `q` with `depends_on` the given (queue, task) pairs.
async fn submit_after(app: &TestApp, q: &str, parents: &[&Value], mut body: Value) -> Value {
    let list: Vec<Value> = parents
        .iter()
        .map(|t| json!({"queue": t["queue"], "id": t["id"]}))
        .collect();
    body["depends_on"] = json!(list);
    app.submit(q, body).await
}

/// Leases the one task `q` has ready (waiting for it to become ready) and acks it with `result`.
async fn run(app: &TestApp, q: &str, result: Value) -> Value {
    let lease = app.lease_when_ready(q, json!({})).await;
    let ack = app
        .worker_call(&lease, "ack", json!({"result": result}))
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
    lease
}

/// Leases what `q` has ready now, asserting there is nothing.
async fn nothing_ready(app: &TestApp, q: &str) {
    let leases = app.lease(q, json!({})).await;
    assert!(
        leases.is_empty(),
        "nothing should be ready in {q}: {leases:?}"
    );
}

/// Fails a leased task for good.
async fn fail_for_good(app: &TestApp, q: &str) -> Value {
    let lease = app.lease_when_ready(q, json!({})).await;
    let fail = app
        .worker_call(&lease, "fail", json!({"error": "broken", "retry": false}))
        .await;
    assert_eq!(fail.status, StatusCode::OK, "{}", fail.body);
    assert_eq!(fail.body["state"], "dead");
    lease
}

#[tokio::test]
async fn a_diamond_across_three_queues_runs_its_last_task_once_after_both_middles() {
    let app = TestApp::start().await;
    let (qa, qb, qc) = (queue("dia-a"), queue("dia-b"), queue("dia-c"));
    if crate::CLUSTER {
        // On the cluster suite, the three queues live in three slots.
        let mut slots = std::collections::BTreeSet::new();
        for q in [&qa, &qb, &qc] {
            let key = format!("{}:{{q:{q}}}:meta", app.prefix);
            let slot: i64 = RedisServer::shared()
                .cmd(&["CLUSTER", "KEYSLOT", &key])
                .await;
            slots.insert(slot);
        }
        assert_eq!(slots.len(), 3, "{slots:?}");
    }
    let a = app.submit(&qa, json!({"payload": "A"})).await;
    let b = submit_after(&app, &qb, &[&a], json!({"payload": "B"})).await;
    let c = submit_after(&app, &qc, &[&a], json!({"payload": "C"})).await;
    let d = submit_after(&app, &qa, &[&b, &c], json!({"payload": "D"})).await;
    for waiting in [&b, &c, &d] {
        assert_eq!(waiting["state"], "waiting", "{waiting}");
        assert_eq!(waiting["on_dependency_failure"], "dead", "{waiting}");
    }
    assert_eq!(d["dependencies"][0]["state"], "pending", "{d}");
    nothing_ready(&app, &qb).await;

    let lease_a = run(&app, &qa, json!({"thumbs": 2})).await;
    assert_eq!(
        lease_a["task"]["id"], a["id"],
        "D must not be ready before B and C"
    );
    let lease_b = run(&app, &qb, json!("b-done")).await;
    assert_eq!(
        lease_b["task"]["dependencies"][0]["result"],
        json!({"thumbs": 2})
    );
    // D still waits for C, and says so once B's outcome has reached it (delivered just
    // after B's ack answered).
    let d_id = d["id"].as_str().expect("id");
    let explain = format!("/v1/queues/{qa}/tasks/{d_id}/explain");
    let why = eventually("B's outcome to reach D", || async {
        let why = app.get(&explain).await.body;
        (why["reasons"][0]["waiting_for"].as_array()?.len() == 1).then_some(why)
    })
    .await;
    assert_eq!(why["state"], "waiting", "{why}");
    assert_eq!(why["reasons"][0]["code"], "waiting_for", "{why}");
    assert_eq!(
        why["reasons"][0]["waiting_for"],
        json!([{"queue": qc, "id": c["id"]}]),
        "{why}"
    );
    nothing_ready(&app, &qa).await;

    run(&app, &qc, json!("c-done")).await;
    let lease_d = app.lease_when_ready(&qa, json!({})).await;
    assert_eq!(lease_d["task"]["id"], d["id"]);
    let deps = lease_d["task"]["dependencies"].as_array().expect("deps");
    let results: Vec<(&Value, &Value, &Value)> = deps
        .iter()
        .map(|p| (&p["id"], &p["state"], &p["result"]))
        .collect();
    assert_eq!(
        results,
        [
            (&b["id"], &json!("completed"), &json!("b-done")),
            (&c["id"], &json!("completed"), &json!("c-done"))
        ],
        "{lease_d}"
    );
    let ack = app.worker_call(&lease_d, "ack", json!({})).await;
    assert_eq!(ack.status, StatusCode::OK);
    // Once: nothing else ever became ready in any of the three queues.
    for q in [&qa, &qb, &qc] {
        nothing_ready(&app, q).await;
    }
    let stats = app.queue_stats(&qa).await;
    assert_eq!(stats["totals"]["completed"], 2, "A and D: {stats}");
}

#[tokio::test]
async fn each_mode_does_what_it_says_when_a_parent_dies() {
    let app = TestApp::start().await;
    let (qp, qc) = (queue("mode-p"), queue("mode-c"));
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    let dead = submit_after(&app, &qc, &[&parent], json!({"payload": "dead"})).await;
    let cancel = submit_after(
        &app,
        &qc,
        &[&parent],
        json!({"payload": "cancel", "on_dependency_failure": "cancel"}),
    )
    .await;
    let other = app.submit(&qp, json!({"payload": 2, "priority": -5})).await;
    let run_anyway = submit_after(
        &app,
        &qc,
        &[&parent, &other],
        json!({"payload": "run", "on_dependency_failure": "run"}),
    )
    .await;
    fail_for_good(&app, &qp).await;

    let id = |t: &Value| t["id"].as_str().expect("id").to_owned();
    let dead = app
        .task_when(&qc, &id(&dead), |t| t["state"] != "waiting")
        .await;
    assert_eq!(dead["state"], "dead", "{dead}");
    let why = &dead["errors"][0];
    assert_eq!(why["kind"], "dependency", "{dead}");
    let expected = format!("dependency {qp}/{} ended dead", id(&parent));
    assert_eq!(why["message"], expected.as_str(), "{dead}");
    assert_eq!(dead["attempts"], 0, "it never ran");
    let cancel = app
        .task_when(&qc, &id(&cancel), |t| t["state"] != "waiting")
        .await;
    assert_eq!(cancel["state"], "cancelled", "{cancel}");
    // `run` waits for the other parent, then runs with both outcomes.
    let waiting = app.task(&qc, &id(&run_anyway)).await;
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(waiting["dependencies"][0]["state"], "dead", "{waiting}");
    assert_eq!(waiting["dependencies"][1]["state"], "pending", "{waiting}");
    run(&app, &qp, json!("fine")).await;
    let lease = app.lease_when_ready(&qc, json!({})).await;
    assert_eq!(lease["task"]["id"], run_anyway["id"]);
    let states: Vec<&Value> = lease["task"]["dependencies"]
        .as_array()
        .expect("deps")
        .iter()
        .map(|p| &p["state"])
        .collect();
    assert_eq!(states, [&json!("dead"), &json!("completed")], "{lease}");
}

#[tokio::test]
async fn an_unknown_parent_is_refused_naming_it_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let (qp, qc) = (queue("unknown-p"), queue("unknown-c"));
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    let ghost = "01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e";
    let body = json!({"payload": 2, "depends_on": [
        {"queue": qp, "id": parent["id"]}, {"queue": qp, "id": ghost}]});
    let reply = app.post(&format!("/v1/queues/{qc}/tasks"), body).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let error = &reply.body["errors"][0];
    assert_eq!(error["field"], "depends_on", "{}", reply.body);
    let message = error["message"].as_str().expect("message");
    assert!(message.contains(ghost), "{message}");
    assert!(
        !message.contains(parent["id"].as_str().expect("id")),
        "{message}"
    );
    let stats = app.get(&format!("/v1/queues/{qc}")).await;
    assert_eq!(
        stats.status,
        StatusCode::NOT_FOUND,
        "nothing stored: {}",
        stats.body
    );

    // Bad shapes are named too: a repeat, a mode without parents, debounce with parents.
    let twice = json!({"payload": 1, "depends_on": [
        {"queue": qp, "id": parent["id"]}, {"queue": qp, "id": parent["id"]}]});
    let reply = app.post(&format!("/v1/queues/{qc}/tasks"), twice).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body["errors"][0]["field"], "depends_on[1]",
        "{}",
        reply.body
    );
    let mode_alone = json!({"payload": 1, "on_dependency_failure": "run"});
    let reply = app
        .post(&format!("/v1/queues/{qc}/tasks"), mode_alone)
        .await;
    assert_eq!(reply.body["errors"][0]["field"], "on_dependency_failure");
    let debounced = json!({"payload": 1, "depends_on": [{"queue": qp, "id": parent["id"]}],
                           "debounce": {"key": "k", "delay_ms": 10}});
    let reply = app.post(&format!("/v1/queues/{qc}/tasks"), debounced).await;
    assert_eq!(
        reply.body["errors"][0]["field"], "debounce",
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_finished_parent_counts_at_once_and_a_waiting_task_can_be_cancelled() {
    let app = TestApp::start().await;
    let (qp, qc) = (queue("done-p"), queue("done-c"));
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    run(&app, &qp, json!({"n": 7})).await;
    let child = submit_after(&app, &qc, &[&parent], json!({"payload": 2})).await;
    assert_eq!(child["state"], "ready", "{child}");
    assert_eq!(
        child["dependencies"][0]["result"],
        json!({"n": 7}),
        "{child}"
    );

    let later = app.submit(&qp, json!({"payload": 3})).await;
    let waiting = submit_after(&app, &qc, &[&later], json!({"payload": 4})).await;
    let id = waiting["id"].as_str().expect("id");
    let cancelled = app.delete(&format!("/v1/queues/{qc}/tasks/{id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    run(&app, &qp, json!(null)).await;
    let lease = app.lease_when_ready(&qc, json!({})).await;
    assert_eq!(
        lease["task"]["id"], child["id"],
        "only the first child runs"
    );
    app.worker_call(&lease, "ack", json!({})).await;
    // The parent's outcome has been delivered (its outbox is empty), and the cancelled child
    // stayed cancelled.
    let outbox = format!("{}:{{q:{qp}}}:outbox", app.prefix);
    eventually("the outbox to empty", || async {
        let n: i64 = crate::harness::RedisServer::shared()
            .cmd(&["ZCARD", &outbox])
            .await;
        (n == 0).then_some(())
    })
    .await;
    assert_eq!(app.task(&qc, id).await["state"], "cancelled");
    nothing_ready(&app, &qc).await;
}

#[tokio::test]
async fn a_task_may_wait_for_a_hundred_parents_and_not_one_more() {
    let app = TestApp::start().await;
    let (qp, qc) = (queue("hundred-p"), queue("hundred-c"));
    let tasks: Vec<Value> = (0..101).map(|i| json!({"payload": i})).collect();
    let batch = app
        .post(
            &format!("/v1/queues/{qp}/tasks:batch"),
            json!({"tasks": tasks}),
        )
        .await;
    let parents: Vec<Value> = batch.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| json!({"queue": qp, "id": r["task"]["id"]}))
        .collect();
    let over = json!({"payload": 0, "depends_on": parents});
    let reply = app.post(&format!("/v1/queues/{qc}/tasks"), over).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "depends_on");
    assert_eq!(
        reply.body["errors"][0]["message"],
        "must list 1 to 100 items"
    );
    let at = json!({"payload": 0, "depends_on": parents[..100]});
    let child = app.submit(&qc, at).await;
    assert_eq!(child["state"], "waiting");
    assert_eq!(child["dependencies"].as_array().map(Vec::len), Some(100));
}
