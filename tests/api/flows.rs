//! Flows (README, "Workflows"): a flow of 1,000 tasks (a fan-out of 999 and one fan-in) runs
//! its fan-in once, after all the others, with every result; a cycle, an unknown reference or
//! a reference used twice is a 422 naming it, with nothing stored; cancelling a flow cancels
//! its unfinished tasks and leaves the finished ones; a flow's events follow it to its end.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, queue};

/// Leases up to 100 of `q`'s ready tasks and acks each with `{"n": <its payload>}`; returns
/// their ids.
async fn run_ready(app: &TestApp, q: &str) -> Vec<String> {
    let leases = app.lease(q, json!({"max_tasks": 100})).await;
    let mut ids = Vec::new();
    let acks: Vec<Value> = leases
        .iter()
        .map(|lease| {
            ids.push(lease["task"]["id"].as_str().expect("id").to_owned());
            json!({"id": lease["task"]["id"], "lease_id": lease["lease_id"],
                   "result": {"n": lease["task"]["payload"]}})
        })
        .collect();
    if !acks.is_empty() {
        let reply = app
            .post(&format!("/v1/queues/{q}/acks"), json!({"acks": acks}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_of_a_thousand_tasks_runs_its_fan_in_once_after_all_the_others() {
    let app = TestApp::start().await;
    let (pages, merge) = (queue("flow-pages"), queue("flow-merge"));
    let mut tasks: Vec<Value> = (0..999)
        .map(|i| json!({"ref": format!("page-{i}"), "queue": pages, "payload": i}))
        .collect();
    let refs: Vec<String> = (0..999).map(|i| format!("page-{i}")).collect();
    tasks.push(json!({"ref": "merge", "queue": merge, "payload": "merge", "depends_on": refs}));
    let reply = app.post("/v1/flows", json!({"tasks": tasks})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let flow = reply.body;
    let listed = flow["tasks"].as_array().expect("tasks");
    assert_eq!(listed.len(), 1000);
    assert!(
        listed[..999].iter().all(|t| t["state"] == "ready"),
        "the pages are ready"
    );
    assert_eq!(listed[999]["state"], "waiting");
    assert_eq!(flow["finished"], false);
    let id = flow["id"].as_str().expect("id");
    assert!(id.starts_with(&format!("{pages}~")), "{id}");
    let merge_id = listed[999]["id"].as_str().expect("id").to_owned();
    let page_ids: BTreeSet<String> = listed[..999]
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();

    let mut ran = BTreeSet::new();
    while ran.len() < 999 {
        let batch = run_ready(&app, &pages).await;
        assert!(!batch.is_empty(), "pages left to run: {}", 999 - ran.len());
        ran.extend(batch);
        if ran.len() < 999 {
            assert!(
                app.lease(&merge, json!({})).await.is_empty(),
                "the fan-in ran early"
            );
        }
    }
    assert_eq!(ran, page_ids);
    let lease = app.lease_when_ready(&merge, json!({})).await;
    assert_eq!(lease["task"]["id"], merge_id.as_str());
    assert_eq!(lease["task"]["flow"], id);
    let deps = lease["task"]["dependencies"].as_array().expect("deps");
    assert_eq!(deps.len(), 999);
    assert!(deps.iter().all(|d| d["state"] == "completed"));
    assert_eq!(deps[998]["result"], json!({"n": 998}), "{}", deps[998]);
    let ack = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(ack.status, StatusCode::OK);
    assert!(
        app.lease(&merge, json!({})).await.is_empty(),
        "the fan-in ran once"
    );
    let stats = app.queue_stats(&merge).await;
    assert_eq!(stats["totals"]["completed"], 1, "{stats}");

    let after = app.get(&format!("/v1/flows/{id}")).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body["finished"], true, "{}", after.body["tasks"][999]);
    let states: BTreeSet<&str> = after.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, BTreeSet::from(["completed"]));
}

#[tokio::test]
async fn a_cycle_or_a_bad_reference_is_refused_naming_it_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let q = queue("flow-bad");
    let cycle = json!({"tasks": [
        {"ref": "a", "queue": q, "payload": 1, "depends_on": ["c"]},
        {"ref": "b", "queue": q, "payload": 2, "depends_on": ["a"]},
        {"ref": "c", "queue": q, "payload": 3, "depends_on": ["b"]},
        {"ref": "d", "queue": q, "payload": 4},
    ]});
    let reply = app.post("/v1/flows", cycle).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let error = &reply.body["errors"][0];
    assert_eq!(error["field"], "tasks");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.ends_with("a → b → c → a")
            || message.ends_with("b → c → a → b")
            || message.ends_with("c → a → b → c"),
        "{message}"
    );
    assert!(
        !message.contains("→ d") && !message.contains("d →"),
        "{message}"
    );

    let unknown = json!({"tasks": [
        {"ref": "a", "queue": q, "payload": 1},
        {"ref": "b", "queue": q, "payload": 2, "depends_on": ["a", "zz"]},
        {"ref": "a", "queue": q, "payload": 3},
    ]});
    let reply = app.post("/v1/flows", unknown).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["tasks[2].ref", "tasks[1].depends_on[1]"],
        "{}",
        reply.body
    );
    let bad_item = json!({"tasks": [{"ref": "a b", "queue": q, "payload": 1, "priority": 5000}]});
    let reply = app.post("/v1/flows", bad_item).await;
    let fields: BTreeSet<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["tasks[0].ref", "tasks[0].priority"]),
        "{}",
        reply.body
    );
    let queue_view = app.get(&format!("/v1/queues/{q}")).await;
    assert_eq!(queue_view.status, StatusCode::NOT_FOUND, "nothing stored");
}

#[tokio::test]
async fn cancelling_a_flow_cancels_its_unfinished_tasks_and_keeps_the_finished() {
    let app = TestApp::start().await;
    let (qa, qb) = (queue("flow-cancel-a"), queue("flow-cancel-b"));
    let body = json!({"tasks": [
        {"ref": "first", "queue": qa, "payload": 1},
        {"ref": "second", "queue": qb, "payload": 2, "depends_on": ["first"]},
        {"ref": "other", "queue": qb, "payload": 3, "delay_ms": 600000},
    ]});
    let flow = app.post("/v1/flows", body).await;
    assert_eq!(flow.status, StatusCode::CREATED, "{}", flow.body);
    let id = flow.body["id"].as_str().expect("id");
    assert_eq!(run_ready(&app, &qa).await.len(), 1);
    let cancelled = app.delete(&format!("/v1/flows/{id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let states: Vec<(&str, &str)> = cancelled.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["ref"].as_str().expect("ref"),
                t["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("first", "completed"),
            ("second", "cancelled"),
            ("other", "cancelled")
        ],
        "{}",
        cancelled.body
    );
    assert_eq!(cancelled.body["finished"], true);
    assert!(
        app.lease(&qb, json!({})).await.is_empty(),
        "nothing of it runs"
    );
    let missing = app
        .get(&format!(
            "/v1/flows/{qa}~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e"
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let malformed = app.get("/v1/flows/nope").await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_flows_events_follow_it_to_its_end() {
    let app = TestApp::start().await;
    let q = queue("flow-events");
    let body = json!({"tasks": [
        {"ref": "one", "queue": q, "payload": 1},
        {"ref": "two", "queue": q, "payload": 2, "depends_on": ["one"]},
    ]});
    let flow = app.post("/v1/flows", body).await;
    let id = flow.body["id"].as_str().expect("id").to_owned();
    let url = format!("{}/v1/flows/{id}/events", app.base);
    let stream = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .expect("stream")
            .text()
            .await
            .expect("text")
    });
    assert_eq!(run_ready(&app, &q).await.len(), 1, "one runs first");
    let lease = app.lease_when_ready(&q, json!({})).await;
    assert_eq!(lease["task"]["payload"], 2);
    assert!(!stream.is_finished(), "open while a task is unfinished");
    let ack = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(ack.status, StatusCode::OK);
    let text = tokio::time::timeout(std::time::Duration::from_secs(5), stream)
        .await
        .expect("the stream ends once every task has finished")
        .expect("joined");
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).expect("JSON data")))
        })
        .collect();
    assert_eq!(events.first().map(|e| e.0), Some("flow"), "{text}");
    let (last, flow) = events.last().expect("events");
    assert_eq!(*last, "finished", "{text}");
    assert_eq!(flow["finished"], true);
    let two: Vec<&Value> = events
        .iter()
        .filter(|(name, data)| *name == "task" && data["ref"] == "two")
        .map(|(_, data)| &data["state"])
        .collect();
    assert_eq!(two.last(), Some(&&json!("completed")), "{text}");
}

/// A flow is kept while any of its tasks is, and forgotten by the sweep once they have all
/// been purged (here after a retention of a second).
#[tokio::test]
async fn a_flow_is_forgotten_once_its_tasks_are_purged() {
    let app = TestApp::start().await;
    let q = queue("flow-purge");
    app.patch_policy(&q, json!({"completed_ttl_ms": 1000, "dead_ttl_ms": 1000}))
        .await;
    let body = json!({"tasks": [{"ref": "only", "queue": q, "payload": 1}]});
    let flow = app.post("/v1/flows", body).await;
    let id = flow.body["id"].as_str().expect("id").to_owned();
    let task = flow.body["tasks"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(run_ready(&app, &q).await, std::slice::from_ref(&task));
    let path = format!("/v1/flows/{id}");
    assert_eq!(app.get(&path).await.body["finished"], true);
    crate::harness::eventually("the flow to be forgotten", || async {
        (app.get(&path).await.status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let gone = app.get(&format!("/v1/queues/{q}/tasks/{task}")).await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "its task was purged first"
    );
}

/// A flow one of whose tasks its queue refuses (a payload over that queue's cap) is a problem
/// naming that task, and leaves nothing behind: the tasks stored before it are taken back,
/// and the queues they went to are forgotten as if never used.
#[tokio::test]
async fn a_refused_flow_leaves_nothing_behind() {
    let app = TestApp::start().await;
    let (first, capped) = (queue("flow-taken-back"), queue("flow-capped"));
    app.patch_policy(&capped, json!({"max_payload_bytes": 64}))
        .await;
    let body = json!({"tasks": [
        {"ref": "a", "queue": first, "payload": 1},
        {"ref": "b", "queue": capped, "payload": "x".repeat(100), "depends_on": ["a"]},
    ]});
    let reply = app.post("/v1/flows", body).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    let detail = reply.body["detail"].as_str().expect("detail");
    assert!(detail.starts_with("tasks[1]: "), "{detail}");
    crate::harness::eventually("the first queue to be forgotten", || async {
        (app.get(&format!("/v1/queues/{first}")).await.status == StatusCode::NOT_FOUND)
            .then_some(())
    })
    .await;
    let waiting = app
        .get(&format!("/v1/queues/{capped}/tasks?state=cancelled"))
        .await;
    assert_eq!(waiting.body["tasks"], json!([]), "{}", waiting.body);
}

/// With an `Idempotency-Key`, a repeat of a flow answers the first (200, `Idempotent-Replayed`)
/// and stores nothing; the key with another flow is a 422 naming it.
#[tokio::test]
async fn a_flow_with_an_idempotency_key_is_stored_once() {
    let app = TestApp::start().await;
    let q = queue("flow-key");
    let body = json!({"tasks": [{"ref": "a", "queue": q, "payload": 1}]});
    let send = |body: Value| {
        let app = &app;
        async move {
            app.request_with(
                reqwest::Method::POST,
                "/v1/flows",
                Some(&body),
                &[("idempotency-key", "nightly-2026-12-06")],
            )
            .await
        }
    };
    let first = send(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = send(body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let replayed = again.headers.get("idempotent-replayed");
    assert_eq!(replayed.and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    let other = send(json!({"tasks": [{"ref": "a", "queue": q, "payload": 2}]})).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.body["errors"][0]["field"], "Idempotency-Key");
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["submitted"], 1, "{stats}");
}
