//! Batch acknowledgement: each ack fenced by its own lease and answered on its own, in request
//! order; bad items stop nothing else; a call over the limit changes nothing; and the whole
//! batch goes to Redis in one round trip.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

fn ack(lease: &Value) -> Value {
    json!({"id": lease["task"]["id"], "lease_id": lease["lease_id"]})
}

#[tokio::test]
async fn each_ack_of_a_batch_is_fenced_and_answered_on_its_own() {
    let app = TestApp::start().await;
    let q = queue("acks");
    app.patch_policy(&q, json!({"max_payload_bytes": 100}))
        .await;
    for n in 0..5 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let leases = app.lease(&q, json!({"max_tasks": 5})).await;
    assert_eq!(leases.len(), 5);
    // Lease 4 was acked already, alone: in the batch it is a replay.
    assert_eq!(
        app.worker_call(&leases[4], "ack", json!({})).await.status,
        StatusCode::OK
    );
    let mut with_result = ack(&leases[0]);
    with_result["result"] = json!({"sent": true});
    let mut wrong_lease = ack(&leases[1]);
    wrong_lease["lease_id"] = json!("not-its-lease");
    let mut too_big = ack(&leases[2]);
    too_big["result"] = json!("r".repeat(200));
    let unknown = json!({"id": "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11", "lease_id": "x"});
    let not_an_id = json!({"id": "nope", "lease_id": "x"});
    let body = json!({"acks": [
        with_result, wrong_lease, too_big, ack(&leases[3]), unknown, not_an_id, ack(&leases[4])
    ]});
    let reply = app.post(&format!("/v1/queues/{q}/acks"), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let results = reply.body["results"].as_array().expect("results");
    let statuses: Vec<(u64, u64)> = results
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["status"].as_u64().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (0, 200),
            (1, 409),
            (2, 413),
            (3, 200),
            (4, 404),
            (5, 422),
            (6, 200)
        ]
    );
    assert_eq!(results[1]["error"]["type"], "lease-lost");
    assert_eq!(results[5]["error"]["errors"][0]["field"], "id");
    assert_eq!(results[6]["replayed"], true);
    assert!(results[0].get("replayed").is_none(), "{}", results[0]);

    let task = |lease: &Value| lease["task"]["id"].as_str().expect("id").to_owned();
    let done = app.task(&q, &task(&leases[0])).await;
    assert_eq!(
        (done["state"].clone(), done["result"].clone()),
        (json!("completed"), json!({"sent": true}))
    );
    assert_eq!(app.task(&q, &task(&leases[3])).await["state"], "completed");
    for refused in [&leases[1], &leases[2]] {
        assert_eq!(
            app.task(&q, &task(refused)).await["state"],
            "leased",
            "a refused ack changed its task"
        );
    }
    assert_eq!(app.queue_stats(&q).await["totals"]["completed"], 3);
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_whole_and_changes_nothing() {
    let app = TestApp::start().await;
    let q = queue("acks-limit");
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let acks: Vec<Value> = (0..1001).map(|_| ack(&lease)).collect();
    let reply = app
        .post(&format!("/v1/queues/{q}/acks"), json!({"acks": acks}))
        .await;
    let problem = reply.assert_problem(422, "validation");
    assert_eq!(problem["errors"][0]["field"], "acks");
    let empty = app
        .post(&format!("/v1/queues/{q}/acks"), json!({"acks": []}))
        .await;
    empty.assert_problem(422, "validation");
    let id = lease["task"]["id"].as_str().expect("id");
    assert_eq!(app.task(&q, id).await["state"], "leased");
}

/// 250 acks are three scripts (100 + 100 + 50), sent together: one round trip's wait, and no
/// command but those three FCALLs.
#[tokio::test]
async fn a_batch_of_acks_is_sent_to_redis_at_once() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("acks-once");
    let tasks: Vec<Value> = (0..250).map(|n| json!({"payload": n})).collect();
    let submitted = app
        .post(
            &format!("/v1/queues/{q}/tasks:batch"),
            json!({"tasks": tasks}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK);
    let mut leases = Vec::new();
    let deadline = crate::harness::Deadline::after(std::time::Duration::from_secs(30));
    while leases.len() < 250 {
        deadline.check("250 leases");
        leases.extend(app.lease(&q, json!({"max_tasks": 100})).await);
    }
    // Load the script: the first ack batch may load its library.
    let warm = leases.pop().expect("a lease");
    app.post(
        &format!("/v1/queues/{q}/acks"),
        json!({"acks": [ack(&warm)]}),
    )
    .await;
    app.submit(&q, json!({"payload": "last"})).await;
    leases.extend(app.lease(&q, json!({})).await);

    let commands = crate::roundtrips::commands_during(&redis, || async {
        let acks: Vec<Value> = leases.iter().map(ack).collect();
        let reply = app
            .post(&format!("/v1/queues/{q}/acks"), json!({"acks": acks}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let results = reply.body["results"].as_array().expect("results");
        assert!(results.iter().all(|r| r["status"] == 200), "{}", reply.body);
    })
    .await;
    assert_eq!(commands, vec!["fcall"; 3]);
    assert_eq!(app.queue_stats(&q).await["totals"]["completed"], 251);
}
