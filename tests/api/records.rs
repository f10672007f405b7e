//! How a task's record is kept in Redis: a priority or counter that is 0 is not stored (and
//! reads as 0 everywhere), and an error history written before record version 1 (one text in
//! the field `<id>`) is still shown, and moves into slots at the task's next failure, while a
//! record of this version is never taken for one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, queue};

fn key(app: &TestApp, q: &str, role: &str) -> String {
    format!("{}:{{q:{q}}}:{role}", app.prefix)
}

async fn stored_text(redis: &RedisServer, app: &TestApp, q: &str, id: &str) -> String {
    redis.cmd(&["HGET", &key(app, q, "meta"), id]).await
}

fn messages(task: &Value) -> Vec<String> {
    task["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["message"].as_str().expect("message").to_owned())
        .collect()
}

/// Zero counters and a zero priority are left out of the stored record, the API shows them as
/// 0, reading a record does not write it back, and a counter that moves is stored.
#[tokio::test]
async fn zero_counters_are_not_stored_and_read_as_zero() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("compact");
    let id = app.submit(&q, json!({"payload": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stored = stored_text(&redis, &app, &q, &id).await;
    for field in [
        "priority",
        "attempts",
        "attempts_expired",
        "attempts_failed",
    ] {
        assert!(
            !stored.contains(&format!("\"{field}\"")),
            "{field} stored: {stored}"
        );
    }
    let task = app.task(&q, &id).await;
    for field in [
        "priority",
        "attempts",
        "attempts_expired",
        "attempts_failed",
    ] {
        assert_eq!(task[field], 0, "{field} in {task}");
    }
    assert_eq!(
        stored_text(&redis, &app, &q, &id).await,
        stored,
        "a read wrote the record back"
    );

    let lease = app.lease_one(&q).await;
    let failed = app
        .worker_call(&lease, "fail", json!({"error": "first", "retry_in_ms": 0}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    let stored: Value = serde_json::from_str(&stored_text(&redis, &app, &q, &id).await).unwrap();
    assert_eq!(stored["attempts"], 1, "{stored}");
    assert_eq!(stored["attempts_failed"], 1, "{stored}");
    assert!(stored.get("attempts_expired").is_none(), "{stored}");

    let high = app.submit(&q, json!({"payload": 2, "priority": -7})).await;
    let stored = app
        .stored_meta(&q, high["id"].as_str().expect("id"))
        .await
        .expect("stored");
    assert_eq!(stored["priority"], -7, "{stored}");
}

/// A record from before version 1 keeps its history as one JSON text in the field `<id>`:
/// reads show it, the lease that migrates the record keeps it, and the next failure moves it
/// into slots beside the new entry. A record of this version with a stray `<id>` field (none
/// of ours writes one) shows no history.
#[tokio::test]
async fn a_history_from_before_version_1_is_shown_and_moved_into_slots() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("old-history");
    let id = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a12";
    let errors = key(&app, &q, "errors");
    let legacy = r#"[{"attempt":1,"at":1,"kind":"failed","message":"before versions"}]"#;
    let () = redis
        .cmd(&[
            "HSET",
            &key(&app, &q, "meta"),
            id,
            r#"{"state":"scheduled","attempts":1,"attempts_failed":1}"#,
        ])
        .await;
    let () = redis.cmd(&["HSET", &errors, id, legacy]).await;
    let () = redis
        .cmd(&["HSET", &key(&app, &q, "payload"), id, "{}"])
        .await;
    let _: i64 = redis
        .cmd(&["ZADD", &key(&app, &q, "scheduled"), "0", id])
        .await;

    assert_eq!(messages(&app.task(&q, id).await), ["before versions"]);
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], id);
    assert_eq!(messages(&lease["task"]), ["before versions"]);
    let migrated = stored_text(&redis, &app, &q, id).await;
    assert!(migrated.contains("\"v\":1"), "not migrated: {migrated}");
    assert_eq!(messages(&app.task(&q, id).await), ["before versions"]);

    let failed = app
        .worker_call(&lease, "fail", json!({"error": "after", "retry_in_ms": 0}))
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(messages(&failed.body), ["before versions", "after"]);
    let left: i64 = redis.cmd(&["HEXISTS", &errors, id]).await;
    assert_eq!(left, 0, "the old text stayed beside the slots");
    let stored = stored_text(&redis, &app, &q, id).await;
    assert!(!stored.contains("\"lh\""), "still marked: {stored}");
    assert_eq!(
        messages(&app.task(&q, id).await),
        ["before versions", "after"]
    );

    let current = app.submit(&q, json!({"payload": 3})).await;
    let current = current["id"].as_str().expect("id");
    let () = redis.cmd(&["HSET", &errors, current, legacy]).await;
    assert!(messages(&app.task(&q, current).await).is_empty());
}
