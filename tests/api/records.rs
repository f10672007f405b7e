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

/// Writes a record by hand, as an older version (or a hand) left it: its metadata `meta`, an
/// empty payload, and a place in `scheduled` due at `due_at`.
async fn write_scheduled(
    redis: &RedisServer,
    app: &TestApp,
    q: &str,
    id: &str,
    meta: &str,
    due_at: &str,
) {
    let () = redis.cmd(&["HSET", &key(app, q, "meta"), id, meta]).await;
    let () = redis
        .cmd(&["HSET", &key(app, q, "payload"), id, "{}"])
        .await;
    let _: i64 = redis
        .cmd(&["ZADD", &key(app, q, "scheduled"), due_at, id])
        .await;
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
    let writes = redis.calls_of("hset").await;
    let task = app.task(&q, &id).await;
    for field in [
        "priority",
        "attempts",
        "attempts_expired",
        "attempts_failed",
    ] {
        assert_eq!(task[field], 0, "{field} in {task}");
    }
    app.task(&q, &id).await;
    assert_eq!(
        redis.calls_of("hset").await,
        writes,
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

/// A record from before version 1 keeps its history as one JSON text in the field `<id>`, and
/// so may a record that version 1 migrated (it did not mark them): the read that migrates the
/// record shows it, so do the lease and the reads after it, and the next failure moves it into
/// slots beside the new entry. A record of this version with a stray `<id>` field (none of ours writes one) shows no
/// history.
#[tokio::test]
async fn a_history_from_before_version_1_is_shown_and_moved_into_slots() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("old-history");
    let errors = key(&app, &q, "errors");
    let legacy = r#"[{"attempt":1,"at":1,"kind":"failed","message":"before versions"}]"#;
    for (id, version) in [
        ("019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a12", ""),
        ("019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a13", r#""v":1,"#),
    ] {
        let meta = format!(r#"{{{version}"state":"scheduled","attempts":1,"attempts_failed":1}}"#);
        write_scheduled(&redis, &app, &q, id, &meta, "0").await;
        let () = redis.cmd(&["HSET", &errors, id, legacy]).await;

        assert_eq!(
            messages(&app.task(&q, id).await),
            ["before versions"],
            "{meta}"
        );
        let lease = app.lease_one(&q).await;
        assert_eq!(lease["task"]["id"], id);
        assert_eq!(messages(&lease["task"]), ["before versions"]);
        let migrated = stored_text(&redis, &app, &q, id).await;
        assert!(migrated.contains("\"v\":2"), "not migrated: {migrated}");
        assert_eq!(messages(&app.task(&q, id).await), ["before versions"]);

        let failed = app
            .worker_call(
                &lease,
                "fail",
                json!({"error": "after", "retry_in_ms": 3_600_000}),
            )
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
    }

    let current = app.submit(&q, json!({"payload": 3})).await;
    let current = current["id"].as_str().expect("id");
    let () = redis.cmd(&["HSET", &errors, current, legacy]).await;
    assert!(messages(&app.task(&q, current).await).is_empty());
}

/// A ready task at the default priority (0, so not stored) whose payload cannot be read is put
/// aside by the first read that meets it, and leaves its group's order or its requirement
/// set's order with it: no ghost ready entry stays behind.
#[tokio::test]
async fn an_unreadable_task_at_the_default_priority_leaves_its_ready_order() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("compact-quarantine");
    for (body, order) in [
        (json!({"payload": 1, "group": "acct"}), "gready"),
        (json!({"payload": 2, "requires": {"gpu": "a100"}}), "rready"),
    ] {
        let id = app.submit(&q, body).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let before: i64 = redis.cmd(&["ZCARD", &key(&app, &q, order)]).await;
        assert_eq!(before, 1, "{order}");
        let () = redis
            .cmd(&["HSET", &key(&app, &q, "payload"), &id, "{not json"])
            .await;
        app.get(&format!("/v1/queues/{q}/tasks/{id}"))
            .await
            .assert_problem(404, "not-found");
        let after: i64 = redis.cmd(&["ZCARD", &key(&app, &q, order)]).await;
        assert_eq!(after, 0, "a ghost entry stayed in {order}");
    }
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["counts"]["quarantined"], 2, "{stats}");
    assert_eq!(stats["counts"]["ready"], 0, "{stats}");
}

/// A record that version 1 migrated and that has no old history text is not marked as maybe
/// having one (`lh`) once this version has read it: it costs no look for one at later reads.
#[tokio::test]
async fn a_version_1_record_without_old_history_is_not_marked() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("v1-no-history");
    let id = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a14";
    let meta = r#"{"v":1,"state":"scheduled","run_at":99999999999999,"created_at":1}"#;
    write_scheduled(&redis, &app, &q, id, meta, "99999999999999").await;
    assert!(messages(&app.task(&q, id).await).is_empty());
    let stored = stored_text(&redis, &app, &q, id).await;
    assert!(stored.contains("\"v\":2"), "not migrated: {stored}");
    assert!(!stored.contains("\"lh\""), "marked: {stored}");
}
