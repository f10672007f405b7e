//! One queue's trouble never stops the others, and bookkeeping heals itself (SPEC §3.14–15):
//! records the scripts cannot use are moved aside, records written by another version are
//! read with defaults, the reaper goes on past a failing queue, and the queue registry comes
//! back by itself after a `DEL` or a `FLUSHALL`, and shrinks when queues go idle.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskgate::store::sweep::Reaper;

use crate::harness::{RedisServer, TestApp, eventually, log_lines, queue};

fn key(app: &TestApp, q: &str, role: &str) -> String {
    format!("{}:{{q:{q}}}:{role}", app.prefix)
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("task id").to_owned()
}

/// A record whose metadata cannot be used (a field of the wrong type, as a newer or broken
/// writer might leave), sitting in a queue's ready set and in its expired leases: the reaper
/// still reclaims another queue's expired lease, leases on the bad queue still hand out its
/// good task, and the bad record is moved to the quarantine set, counted and logged with the
/// queue's name.
#[tokio::test]
async fn an_unusable_record_is_quarantined_and_stops_nothing() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let (bad_q, other_q) = (queue("bad-records"), queue("neighbour"));

    // The bad queue: one task leased with an expired deadline and one ready, both corrupted,
    // plus one good ready task.
    let expiring = app.submit(&bad_q, json!({"payload": "expiring"})).await;
    app.lease(&bad_q, json!({"lease_ms": 1000})).await;
    let broken_ready = app.submit(&bad_q, json!({"payload": "broken"})).await;
    let good = app.submit(&bad_q, json!({"payload": "good"})).await;
    for task in [&expiring, &broken_ready] {
        let () = redis
            .cmd(&[
                "HSET",
                &key(&app, &bad_q, "meta"),
                &id_of(task),
                r#"{"state":"leased","priority":"high","leased_until":0}"#,
            ])
            .await;
    }
    // The neighbour: a lease that expires with no worker ever calling again.
    let neighbour = app.submit(&other_q, json!({"payload": "n"})).await;
    app.lease(&other_q, json!({"lease_ms": 1000})).await;

    let app = &app;
    let reclaimed = eventually("the neighbour's expired lease to be reclaimed", || async {
        let task = app.task(&other_q, &id_of(&neighbour)).await;
        (task["state"] != "leased").then_some(task)
    })
    .await;
    assert_eq!(reclaimed["attempts_expired"], 1);

    let leases = app.lease(&bad_q, json!({"max_tasks": 10})).await;
    let leased: Vec<Value> = leases.iter().map(|l| l["task"]["id"].clone()).collect();
    assert_eq!(
        leased,
        vec![good["id"].clone()],
        "only the good task is handed out"
    );

    let quarantined: Vec<String> = redis
        .cmd(&["ZRANGE", &key(app, &bad_q, "quarantine"), "0", "-1"])
        .await;
    let mut expected = vec![id_of(&expiring), id_of(&broken_ready)];
    expected.sort();
    let mut quarantined_sorted = quarantined.clone();
    quarantined_sorted.sort();
    assert_eq!(quarantined_sorted, expected);
    let counted: i64 = redis
        .cmd(&["HGET", &key(app, &bad_q, "stats"), "quarantined"])
        .await;
    assert_eq!(counted, 2);
    let logged = log_lines(&bad_q);
    for id in &expected {
        assert!(
            logged
                .iter()
                .any(|l| l.contains("quarantine") && l.contains(id)),
            "no log line names {id} in {bad_q}: {logged:?}"
        );
    }
    // Reading it says what happened; worker calls on it are lease-lost, never a 500.
    let read = app
        .get(&format!(
            "/v1/queues/{bad_q}/tasks/{}",
            id_of(&broken_ready)
        ))
        .await;
    let detail = read.assert_problem(404, "not-found")["detail"].clone();
    assert!(
        detail.as_str().unwrap_or("").contains("quarantine"),
        "{detail}"
    );
    let fake = json!({"lease_id": "0123456789abcdef0123456789abcdef"});
    app.post(
        &format!("/v1/queues/{bad_q}/tasks/{}/ack", id_of(&expiring)),
        fake,
    )
    .await
    .assert_problem(409, "lease-lost");
}

/// A payload that is not JSON (written by hand, or by a broken writer) is found by the
/// server, not the script: the task is moved aside too, and the other tasks of the same lease
/// call are still handed out.
#[tokio::test]
async fn an_unreadable_payload_is_quarantined_and_the_rest_is_served() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("bad-payload");
    let bad = app.submit(&q, json!({"payload": 1})).await;
    let good = app.submit(&q, json!({"payload": 2})).await;
    let () = redis
        .cmd(&["HSET", &key(&app, &q, "payload"), &id_of(&bad), "{not json"])
        .await;
    let leases = app.lease(&q, json!({"max_tasks": 10})).await;
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["task"]["id"], good["id"]);
    let in_quarantine: Option<f64> = redis
        .cmd(&["ZSCORE", &key(&app, &q, "quarantine"), &id_of(&bad)])
        .await;
    assert!(
        in_quarantine.is_some(),
        "the unreadable task was not moved aside"
    );
    app.get(&format!("/v1/queues/{q}/tasks/{}", id_of(&bad)))
        .await
        .assert_problem(404, "not-found");
    assert!(app.lease(&q, json!({"max_tasks": 10})).await.is_empty());
}

/// A record written before record versions existed, lacking counters and optional fields, is
/// read with defaults (a missing counter is 0) and migrated; it works like any other task.
#[tokio::test]
async fn a_record_from_an_older_version_is_read_with_defaults() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("old-record");
    let id = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11";
    let () = redis
        .cmd(&[
            "HSET",
            &key(&app, &q, "meta"),
            id,
            r#"{"state":"scheduled","priority":3}"#,
        ])
        .await;
    let () = redis
        .cmd(&["HSET", &key(&app, &q, "payload"), id, r#"{"old":true}"#])
        .await;
    let _: i64 = redis
        .cmd(&["ZADD", &key(&app, &q, "scheduled"), "0", id])
        .await;
    let task = app.task(&q, id).await;
    assert_eq!(task["state"], "ready", "a due schedule is settled on read");
    assert_eq!(task["attempts"], 0);
    assert_eq!(task["attempts_failed"], 0);
    assert_eq!(task["priority"], 3);
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], id);
    assert_eq!(lease["attempt"], 1);
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let stored: String = redis.cmd(&["HGET", &key(&app, &q, "meta"), id]).await;
    assert!(
        stored.contains("\"v\":2"),
        "the record was not migrated: {stored}"
    );
}

/// The registry is deleted; then the registry and the queue's `stats` key; then the whole
/// Redis is flushed. Each time, a lease that expires afterwards is reclaimed by the reaper with
/// no worker calling and no restart, because the reaper finds the queue again from whatever
/// keys it has left. (Watched in Redis: a `GET` would settle the expiry itself.)
#[tokio::test]
async fn the_registry_heals_after_del_and_after_flushall() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let registry = format!("{}:queues", app.prefix);
    for wipe in ["registry", "registry and stats", "everything"] {
        let q = queue("registry");
        if wipe == "everything" {
            // This process remembers having registered the queue, so after the flush only the
            // reaper's scan can bring it back.
            app.submit(&q, json!({"payload": "before"})).await;
            let () = redis.cmd(&["FLUSHALL"]).await;
        }
        app.submit(&q, json!({"payload": 1})).await;
        let lease = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
        let id = lease["task"]["id"].as_str().expect("id").to_owned();
        if wipe != "everything" {
            let _: i64 = redis.cmd(&["DEL", &registry]).await;
        }
        if wipe == "registry and stats" {
            let _: i64 = redis.cmd(&["DEL", &key(&app, &q, "stats")]).await;
        }
        let task = app
            .stored_meta_when(&q, &id, |t| t["state"] != "leased")
            .await;
        assert_eq!(task["attempts_expired"], 1, "after losing the {wipe}");
        let members: Vec<String> = redis.cmd(&["ZRANGE", &registry, "0", "-1"]).await;
        assert!(members.contains(&q), "{q} is registered again: {members:?}");
    }
}

/// A tick sweeps a bounded number of queues, taking turns, so its cost does not grow with the
/// number of queues; every queue still gets its turn.
#[tokio::test]
async fn a_tick_sweeps_a_bounded_number_of_queues_in_turns() {
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await);
    let names: Vec<String> = (0..260).map(|n| format!("many-{n:03}")).collect();
    let mut submits = Vec::new();
    for name in names.clone() {
        let app = app.clone();
        submits.push(tokio::spawn(async move {
            app.submit(&name, json!({"payload": 1, "delay_ms": 3_600_000}))
                .await
        }));
    }
    for submit in submits {
        submit.await.expect("submit");
    }
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    store
        .registry
        .register(
            &names
                .iter()
                .map(|n| taskgate::model::QueueName::parse(n).expect("name"))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("register");
    let mut reaper = Reaper::new(store.sweep);
    let first = reaper.tick().await;
    let second = reaper.tick().await;
    assert_eq!(first.queues_swept, 200, "{first:?}");
    assert_eq!(second.queues_swept, 60, "{second:?}");
    assert_eq!(first.queues_failed + second.queues_failed, 0);
}

/// A ready task written before record version 1 has no arrival number (`seq`) and a bare id as
/// its ready-set member. Cancelling it used to raise a Lua error (a 500); now it is cancelled
/// and leaves the ready order.
#[tokio::test]
async fn a_ready_record_from_an_older_version_can_be_cancelled() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("old-ready");
    let id = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a12";
    let () = redis
        .cmd(&[
            "HSET",
            &key(&app, &q, "meta"),
            id,
            r#"{"state":"ready","priority":0}"#,
        ])
        .await;
    let () = redis
        .cmd(&["HSET", &key(&app, &q, "payload"), id, r#"{"old":true}"#])
        .await;
    let _: i64 = redis.cmd(&["ZADD", &key(&app, &q, "ready"), "0", id]).await;
    let reply = app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["state"], "cancelled");
    let left: i64 = redis.cmd(&["ZCARD", &key(&app, &q, "ready")]).await;
    assert_eq!(left, 0, "the bare-id member is still in the ready order");
    assert!(app.lease(&q, json!({})).await.is_empty());
}
