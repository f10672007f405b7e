//! Requirements as a producer and an operator see them: the cap on a queue's requirement
//! sets, checked input, and labels in the workers view and explain (`no_matching_worker`).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, queue};

/// A queue's live tasks carry at most 64 distinct requirement sets: the 65th is refused with a
/// 422 naming `requires` and the cap, and creates nothing; a repeat of a known set is fine,
/// and once every task of one set has finished, a new set takes its place.
#[tokio::test]
async fn the_sixty_fifth_requirement_set_is_refused() {
    let app = TestApp::start().await;
    let q = queue("labels-cap");
    let mut first_of_set = Vec::new();
    for n in 0..64 {
        let task = app
            .submit(
                &q,
                json!({"payload": n, "requires": {"model": format!("m{n}")}}),
            )
            .await;
        first_of_set.push(task);
    }
    app.submit(&q, json!({"payload": "again", "requires": {"model": "m7"}}))
        .await;
    let refused = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": 64, "requires": {"model": "m64"}}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body["errors"][0]["field"], "requires",
        "{}",
        refused.body
    );
    let message = refused.body["errors"][0]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("64"), "{message}");
    let stats = app.queue_stats(&q).await;
    assert_eq!(
        stats["counts"]["ready"], 65,
        "the refused submit stored nothing: {stats}"
    );

    // Set m0 ends (its only task is cancelled): a new set fits again.
    let id = first_of_set[0]["id"].as_str().expect("id");
    let cancelled = app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    app.submit(&q, json!({"payload": 64, "requires": {"model": "m64"}}))
        .await;
}

/// Requirements and labels are checked: a bad name or value, or too many entries, are a 422
/// naming the field, and store nothing.
#[tokio::test]
async fn bad_labels_and_requirements_name_their_field() {
    let app = TestApp::start().await;
    let q = queue("labels-bad");
    let too_many: BTreeMap<String, String> =
        (0..9).map(|n| (format!("k{n}"), "v".to_owned())).collect();
    for (body, field) in [
        (
            json!({"payload": 1, "requires": {"gpu": "a=b"}}),
            "requires",
        ),
        (json!({"payload": 1, "requires": {"g pu": "x"}}), "requires"),
        (
            json!({"payload": 1, "requires": {"gpu": 1}}),
            "requires.gpu",
        ),
        (json!({"payload": 1, "requires": too_many}), "requires"),
    ] {
        let reply = app
            .post(&format!("/v1/queues/{q}/tasks"), body.clone())
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
    }
    let reply = app
        .post(
            &format!("/v1/queues/{q}/leases"),
            json!({"labels": {"gpu": ""}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body["errors"][0]["field"], "labels", "{}", reply.body);
    let stats = app.get(&format!("/v1/queues/{q}/stats")).await;
    assert_eq!(stats.status, StatusCode::NOT_FOUND, "{}", stats.body);
}

/// The workers view lists each worker's labels, and explain says when no worker seen lately
/// has the labels a task requires (`no_matching_worker`, with the requirements and how many
/// workers were seen); once one that has them is seen, the reason is gone.
#[tokio::test]
async fn workers_show_labels_and_explain_names_the_missing_ones() {
    let app = TestApp::start().await;
    let q = queue("labels-explain");
    app.submit(&q, json!({"payload": "warm"})).await;
    for (worker, labels) in [
        ("cpu-1", json!({})),
        ("h100-box", json!({"gpu": "h100"})),
        ("eu-box", json!({"region": "eu"})),
    ] {
        app.lease(&q, json!({"worker": worker, "labels": labels}))
            .await;
    }
    let task = app
        .submit(
            &q,
            json!({"payload": "needs a100", "requires": {"gpu": "a100"}}),
        )
        .await;
    let id = task["id"].as_str().expect("id");
    let explain = app
        .get(&format!("/v1/queues/{q}/tasks/{id}/explain"))
        .await
        .body;
    let reason = explain["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["code"] == "no_matching_worker")
        .unwrap_or_else(|| panic!("no no_matching_worker in {explain}"))
        .clone();
    assert_eq!(reason["requires"], json!({"gpu": "a100"}));
    assert_eq!(reason["workers_seen"], 3);
    assert_eq!(explain["runnable_now"], false);

    let workers = app.get(&format!("/v1/queues/{q}/workers")).await.body;
    let labels: BTreeMap<String, Value> = workers["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap_or("").to_owned(),
                w["labels"].clone(),
            )
        })
        .collect();
    assert_eq!(labels["cpu-1"], json!({}));
    assert_eq!(labels["h100-box"], json!({"gpu": "h100"}));
    assert_eq!(labels["eu-box"], json!({"region": "eu"}));

    // A worker that has the labels asks (and takes the task): the next such task has it.
    let leased = app
        .lease(&q, json!({"worker": "a100-box", "labels": {"gpu": "a100"}}))
        .await;
    assert_eq!(leased[0]["task"]["id"], task["id"]);
    let second = app
        .submit(&q, json!({"payload": "next", "requires": {"gpu": "a100"}}))
        .await;
    let id = second["id"].as_str().expect("id");
    let explain = app
        .get(&format!("/v1/queues/{q}/tasks/{id}/explain"))
        .await
        .body;
    let codes: Vec<&Value> = explain["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| &r["code"])
        .collect();
    assert_eq!(codes, [&json!("behind")], "{explain}");
    let workers = app.get("/v1/workers").await.body;
    let a100 = workers["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["name"] == "a100-box")
        .cloned()
        .unwrap_or_default();
    assert_eq!(a100["labels"], json!({"gpu": "a100"}), "{workers}");
}
