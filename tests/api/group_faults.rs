//! Task groups when Redis misbehaves: their bookkeeping keys lost (`DEL`), an override that is
//! not JSON, a grouped record that cannot be read, and a full Redis. Nothing is lost, and what
//! was lost of the bookkeeping comes back from the tasks themselves.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::grouping::{group_of, patch_group, submit_group};
use crate::harness::{Deadline, RedisServer, TestApp, queue};

fn key(app: &TestApp, q: &str, role: &str) -> String {
    format!("{}:{{q:{q}}}:{role}", app.prefix)
}

/// With `gturn`, `gheads`, `gstate` and `gwait` deleted behind the server's back, every grouped
/// task is still leased, under both strategies: the reaper's sweep re-places the groups from
/// `gready`, the index of their ready tasks.
#[tokio::test]
async fn lost_group_bookkeeping_heals_from_the_ready_tasks() {
    let app = TestApp::start().await;
    for strategy in ["fair", "priority"] {
        let q = queue(&format!("group-heal-{strategy}"));
        app.patch_policy(&q, json!({ "strategy": strategy })).await;
        for g in ["a", "b", "c"] {
            submit_group(&app, &q, Some(g), 3).await;
        }
        let keys: Vec<String> = ["gturn", "gheads", "gstate", "gwait"]
            .iter()
            .map(|role| key(&app, &q, role))
            .collect();
        let mut del = vec!["DEL"];
        del.extend(keys.iter().map(String::as_str));
        let deleted: i64 = RedisServer::shared().cmd(&del).await;
        assert_eq!(
            deleted, 3,
            "{strategy}: gturn, gheads and gstate were there"
        );

        let mut ids = HashSet::new();
        let deadline = Deadline::after(Duration::from_secs(10));
        while ids.len() < 9 {
            deadline.check(&format!(
                "{strategy}: all 9 grouped tasks leased, {ids:?} so far"
            ));
            for lease in app.lease(&q, json!({"max_tasks": 9})).await {
                assert_ne!(group_of(&lease), "");
                ids.insert(lease["task"]["id"].as_str().unwrap_or("").to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A group override that is not JSON (a hand edit) is ignored: the group has the policy's
/// limits, its tasks are leased, and a write replaces the override cleanly.
#[tokio::test]
async fn a_corrupt_group_override_is_ignored_and_replaced() {
    let app = TestApp::start().await;
    let q = queue("group-corrupt-conf");
    submit_group(&app, &q, Some("acct"), 2).await;
    let () = RedisServer::shared()
        .cmd(&["HSET", &key(&app, &q, "gconf"), "acct", "{not json"])
        .await;
    let view = app.get(&format!("/v1/queues/{q}/groups/acct")).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert_eq!(view.body["limits"]["weight"], 1, "{}", view.body);
    assert_eq!(view.body["version"], 0, "{}", view.body);
    assert_eq!(app.lease(&q, json!({"max_tasks": 1})).await.len(), 1);
    let written = patch_group(&app, &q, "acct", json!({"weight": 2})).await;
    assert_eq!(written["limits"]["weight"], 2);
    assert!(written["version"].as_u64() > Some(0));
}

/// A grouped ready task whose record cannot be read is moved to quarantine when a lease meets
/// it, and its group goes on with its next task.
#[tokio::test]
async fn an_unreadable_grouped_record_is_quarantined_and_its_group_goes_on() {
    let app = TestApp::start().await;
    let q = queue("group-corrupt-record");
    let first = app.submit(&q, json!({"payload": 1, "group": "acct"})).await;
    let second = app.submit(&q, json!({"payload": 2, "group": "acct"})).await;
    let id = first["id"].as_str().expect("id");
    let () = RedisServer::shared()
        .cmd(&["HSET", &key(&app, &q, "meta"), id, "{\"state\": 7}"])
        .await;
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], second["id"]);
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["counts"]["quarantined"], 1, "{stats}");
    assert_eq!(stats["counts"]["ready"], 0, "{stats}");
}

/// A leased grouped task whose payload cannot be read is quarantined by the lease that met it,
/// and it stops counting against its group: under `groups.max_in_flight` 1 the group's next
/// task is leased at once, and the group's view counts nothing leased.
#[tokio::test]
async fn a_quarantined_lease_frees_its_group() {
    let app = TestApp::start().await;
    let q = queue("group-quarantined-lease");
    app.patch_policy(&q, json!({"groups": {"max_in_flight": 1}}))
        .await;
    let bad = app.submit(&q, json!({"payload": 1, "group": "acct"})).await;
    let good = app.submit(&q, json!({"payload": 2, "group": "acct"})).await;
    let bad_id = bad["id"].as_str().expect("id");
    let () = RedisServer::shared()
        .cmd(&["HSET", &key(&app, &q, "payload"), bad_id, "{not json"])
        .await;
    assert!(app.lease(&q, json!({"max_tasks": 10})).await.is_empty());
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], good["id"]);
    let view = app.get(&format!("/v1/queues/{q}/groups/acct")).await.body;
    assert_eq!(
        view["counts"],
        json!({"ready": 0, "scheduled": 0, "leased": 1}),
        "{view}"
    );
    assert_eq!(view["in_flight"], 1, "{view}");
}

/// A leased grouped task whose whole record becomes unreadable (its group unknown from then
/// on) is quarantined when its lease expires, and the sweep drops the lease entry it left in
/// the group's count: the group's next task is leased, not held for good by
/// `groups.max_in_flight` 1.
#[tokio::test]
async fn a_lease_whose_record_was_lost_stops_counting_against_its_group() {
    let app = TestApp::start().await;
    let q = queue("group-lost-lease");
    app.patch_policy(&q, json!({"groups": {"max_in_flight": 1}}))
        .await;
    submit_group(&app, &q, Some("acct"), 2).await;
    let first = app
        .lease(&q, json!({"max_tasks": 10, "lease_ms": 1000}))
        .await;
    assert_eq!(first.len(), 1, "max_in_flight 1: {first:?}");
    let id = first[0]["task"]["id"].as_str().expect("id");
    let () = RedisServer::shared()
        .cmd(&["HSET", &key(&app, &q, "meta"), id, "{\"state\": 7}"])
        .await;
    let next = app.lease_when_ready(&q, json!({"max_tasks": 10})).await;
    assert_eq!(next["task"]["payload"]["n"], 1, "{next}");
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["counts"]["quarantined"], 1, "{stats}");
}

/// At `maxmemory`, a group can still be paused and resumed (the write is small and allowed
/// when Redis is full, so an operator can always stop a tenant), and leasing goes on.
#[tokio::test]
async fn a_full_redis_still_pauses_a_group() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("group-full");
    submit_group(&app, &q, Some("noisy"), 5).await;
    submit_group(&app, &q, Some("calm"), 5).await;
    let used = redis.memory("used_memory").await;
    redis.config_set("maxmemory", &used.to_string()).await;
    let refused = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "x".repeat(4096)}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );

    let path = format!("/v1/queues/{q}/groups/noisy");
    let paused = app
        .request(Method::PATCH, &path, Some(&json!({"paused": true})))
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    let leases = app.lease(&q, json!({"max_tasks": 10})).await;
    assert_eq!(leases.len(), 5);
    assert!(leases.iter().all(|l| group_of(l) == "calm"));
    let resumed = app
        .request(Method::PATCH, &path, Some(&json!({"paused": false})))
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    redis.config_set("maxmemory", "0").await;
}
