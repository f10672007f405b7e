//! Requirements when Redis misbehaves: the set registry lost (`DEL`), index entries this
//! version does not write, a record whose requirements are not a requirement set, and a full
//! Redis. Nothing is lost, and what was lost of the bookkeeping comes back from the index.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, queue};

fn key(app: &TestApp, q: &str, role: &str) -> String {
    format!("{}:{{q:{q}}}:{role}", app.prefix)
}

/// With `rsets` deleted behind the server's back, a GPU worker sees no set to read, until
/// the reaper's sweep puts the set back from `rready`: then it gets the task. A new submit
/// of the same set counts from there, and the cap still holds.
#[tokio::test]
async fn a_lost_set_registry_heals_from_the_ready_tasks() {
    let app = TestApp::start().await;
    let q = queue("req-heal");
    let task = app
        .submit(&q, json!({"payload": 1, "requires": {"gpu": "a100"}}))
        .await;
    let rsets = key(&app, &q, "rsets");
    let deleted: i64 = RedisServer::shared().cmd(&["DEL", &rsets]).await;
    assert_eq!(deleted, 1);
    let lease = app
        .lease_when_ready(&q, json!({"labels": {"gpu": "a100"}}))
        .await;
    assert_eq!(lease["task"]["id"], task["id"]);
    let count: Option<String> = RedisServer::shared()
        .cmd(&["HGET", &rsets, "gpu=a100"])
        .await;
    assert_eq!(count.as_deref(), Some("1"), "the set is registered again");
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK);
    let left: i64 = RedisServer::shared().cmd(&["EXISTS", &rsets]).await;
    assert_eq!(left, 0, "the set's place is freed with its last task");
}

/// An `rready` member this version does not write (a hand edit) is dropped by the lease that
/// meets it, which goes on to the real task; a record whose `rset` is not a requirement set
/// is quarantined (a GET is `404`, the task is never leased), never a `500`.
#[tokio::test]
async fn foreign_index_entries_and_bad_records_are_put_aside() {
    let app = TestApp::start().await;
    let q = queue("req-foreign");
    let good = app
        .submit(&q, json!({"payload": "good", "requires": {"gpu": "a100"}}))
        .await;
    let bad = app
        .submit(&q, json!({"payload": "bad", "requires": {"gpu": "a100"}}))
        .await;
    let redis = RedisServer::shared();
    let rready = key(&app, &q, "rready");
    let added: i64 = redis
        .cmd(&["ZADD", &rready, "0", "gpu=a100 0000garbage"])
        .await;
    assert_eq!(added, 1);
    // The second task's record says it requires "a b": not a set the server writes.
    let meta_key = key(&app, &q, "meta");
    let bad_id = bad["id"].as_str().expect("id");
    let raw: String = redis.cmd(&["HGET", &meta_key, bad_id]).await;
    let mut meta: serde_json::Value = serde_json::from_str(&raw).expect("meta");
    meta["rset"] = json!("a b");
    let () = redis
        .cmd(&["HSET", &meta_key, bad_id, &meta.to_string()])
        .await;

    let leases = app
        .lease(&q, json!({"labels": {"gpu": "a100"}, "max_tasks": 5}))
        .await;
    let ids: Vec<&serde_json::Value> = leases.iter().map(|l| &l["task"]["id"]).collect();
    assert_eq!(ids, [&good["id"]], "only the good task is leased");
    let members: Vec<String> = redis.cmd(&["ZRANGE", &rready, "0", "-1"]).await;
    assert!(members.is_empty(), "{members:?}");
    let read = app.get(&format!("/v1/queues/{q}/tasks/{bad_id}")).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.body);
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["counts"]["quarantined"], 1, "{stats}");
}

/// While Redis is full a submit with requirements is `503` and changes nothing (no task, no
/// set counted); once there is room again it goes through.
#[tokio::test]
async fn a_full_redis_refuses_a_submit_with_requirements_whole() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("req-full");
    app.submit(&q, json!({"payload": "first"})).await;
    let () = redis.cmd(&["CONFIG", "SET", "maxmemory", "1"]).await;
    let body = json!({"payload": "gpu", "requires": {"gpu": "a100"}});
    let refused = app
        .post(&format!("/v1/queues/{q}/tasks"), body.clone())
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    let rsets: i64 = redis.cmd(&["EXISTS", &key(&app, &q, "rsets")]).await;
    assert_eq!(rsets, 0, "a refused submit counted its set");
    let () = redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]).await;
    let task = eventually("a submit once Redis has room", || async {
        let reply = app
            .post(&format!("/v1/queues/{q}/tasks"), body.clone())
            .await;
        (reply.status == StatusCode::CREATED).then_some(reply.body)
    })
    .await;
    let leased = app
        .lease(&q, json!({"labels": {"gpu": "a100"}, "max_tasks": 2}))
        .await;
    assert!(leased.iter().any(|l| l["task"]["id"] == task["id"]));
}

/// With the turns of groups whose next task requires labels (`rheads`, `rturn`) and the groups'
/// states deleted behind the server's back, every grouped task is still leased by a worker
/// with the labels, under both strategies: the reaper's sweep re-places the groups from
/// `gready`.
#[tokio::test]
async fn lost_turns_of_labelled_groups_heal_from_the_ready_tasks() {
    let app = TestApp::start().await;
    for strategy in ["fair", "priority"] {
        let q = queue(&format!("req-group-heal-{strategy}"));
        app.patch_policy(&q, json!({ "strategy": strategy })).await;
        let mut ids = std::collections::HashSet::new();
        for g in ["a", "b", "c"] {
            for n in 0..2 {
                let task = app
                    .submit(
                        &q,
                        json!({"payload": n, "group": g, "requires": {"gpu": "a100"}}),
                    )
                    .await;
                ids.insert(task["id"].as_str().expect("id").to_owned());
            }
        }
        let roles = ["rheads", "rturn", "gstate"];
        let keys: Vec<String> = roles.iter().map(|role| key(&app, &q, role)).collect();
        let mut del = vec!["DEL"];
        del.extend(keys.iter().map(String::as_str));
        let deleted: i64 = RedisServer::shared().cmd(&del).await;
        assert_eq!(deleted, 3, "{strategy}: all three were there");
        let body = json!({"labels": {"gpu": "a100"}, "max_tasks": 6});
        let cpu = app.lease(&q, json!({"max_tasks": 6})).await;
        assert!(cpu.is_empty(), "{strategy}: a CPU worker got {cpu:?}");
        let leased = eventually(&format!("{strategy}: all 6 leased"), || {
            let (app, q, ids, body) = (&app, &q, &ids, body.clone());
            async move {
                for lease in app.lease(q, body).await {
                    let acked = app.worker_call(&lease, "ack", json!({})).await;
                    assert_eq!(acked.status, StatusCode::OK);
                    let id = lease["task"]["id"].as_str().expect("id").to_owned();
                    assert!(ids.contains(&id), "{id}");
                }
                let stats = app.queue_stats(q).await;
                (stats["counts"]["completed"] == 6).then_some(stats)
            }
        })
        .await;
        assert_eq!(leased["counts"]["ready"], 0, "{leased}");
    }
}
