//! When Redis forgets taskgate's code (restart without persistence, failover, `FUNCTION
//! FLUSH`, `SCRIPT FLUSH`), every operation loads it again and works; and when Redis refuses to
//! load it (full), what a full Redis still allows runs as an EVAL script.

use deadpool_redis::redis;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{RedisServer, TestApp, eventually, queue};

async fn flush_scripts(redis: &RedisServer) {
    let mut conn = redis.connection().await;
    for kind in ["FUNCTION", "SCRIPT"] {
        let _: () = redis::cmd(kind)
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .expect("FLUSH");
    }
}

/// Every script's library loads into Redis (Redis lends a library no global while it loads,
/// so a piece that used one at its top level would fail here, not at its first call), under
/// its own name, and no two share a name.
#[tokio::test]
async fn every_library_loads() {
    let redis = RedisServer::start();
    let mut names = std::collections::BTreeSet::new();
    for (name, text) in taskgate::store::libraries() {
        let loaded: String = redis.cmd(&["FUNCTION", "LOAD", text]).await;
        assert_eq!(loaded, name);
        assert!(names.insert(name), "{name} twice");
    }
    assert!(names.len() >= 50, "{} libraries", names.len());
}

/// A full Redis refuses `FUNCTION LOAD`: with taskgate's functions gone (a restart without
/// persistence whose data filled it up again), a lease still runs, as an EVAL script, and a
/// submit is still refused as a full Redis refuses it (503), not failed otherwise. Once there
/// is room, the functions load again and calls go back to `FCALL`.
#[tokio::test]
async fn a_full_redis_that_lost_the_functions_still_runs_what_it_allows() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("full-noscript");
    app.submit(&q, json!({"payload": "before"})).await;
    flush_scripts(&redis).await;
    let used: String = redis.cmd(&["INFO", "memory"]).await;
    let used = used
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .expect("used_memory")
        .trim()
        .to_owned();
    let () = redis.cmd(&["CONFIG", "SET", "maxmemory", &used]).await;

    let evals = redis.calls_of("evalsha").await;
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["payload"], "before");
    assert!(
        redis.calls_of("evalsha").await > evals,
        "the lease did not run as an EVAL script"
    );
    let refused = app
        .post(&format!("/v1/queues/{q}/tasks"), json!({"payload": "full"}))
        .await;
    refused.assert_problem(503, "unavailable");

    let () = redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]).await;
    let evals = redis.calls_of("evalsha").await;
    let acked = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(
        redis.calls_of("evalsha").await,
        evals,
        "the ack ran as EVAL"
    );
    let loaded: Vec<redis::Value> = redis
        .cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "tg_ack_*"])
        .await;
    assert!(!loaded.is_empty(), "the ack's library was not loaded");
}

/// Every script (submit, get, lease with and without a request id, heartbeat, ack with and
/// without a result, fail with a short and a long error, quarantine, and the reaper's sweep)
/// works right after `FUNCTION FLUSH` and `SCRIPT FLUSH`.
#[tokio::test]
async fn every_operation_survives_script_flush() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("noscript");
    let ok = StatusCode::OK;

    flush_scripts(&redis).await;
    let task = app
        .submit(&q, json!({"payload": 1, "max_attempts": 9}))
        .await;
    let id = task["id"]
        .as_str()
        .expect("a new task has an id")
        .to_owned();
    app.submit(&q, json!({"payload": 2})).await;
    flush_scripts(&redis).await;
    assert_eq!(app.task(&q, &id).await["state"], "ready");
    flush_scripts(&redis).await;
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(
        app.worker_call(&lease, "heartbeat", json!({})).await.status,
        ok
    );
    flush_scripts(&redis).await;
    let short = json!({"error": "x", "retry_in_ms": 0});
    assert_eq!(app.worker_call(&lease, "fail", short).await.status, ok);
    let lease = app.lease(&q, json!({"request_id": "r1"})).await.remove(0);
    flush_scripts(&redis).await;
    let long = json!({"error": "x".repeat(1000), "retry_in_ms": 0});
    assert_eq!(app.worker_call(&lease, "fail", long).await.status, ok);
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({"result": 1}))
            .await
            .status,
        ok
    );
    let lease = app.lease_one(&q).await;
    flush_scripts(&redis).await;
    assert_eq!(app.worker_call(&lease, "ack", json!({})).await.status, ok);

    // The quarantine script runs when the server finds an unreadable payload.
    let bad = app.submit(&q, json!({"payload": 3})).await;
    let bad_id = bad["id"].as_str().expect("a new task has an id");
    let () = redis
        .cmd(&[
            "HSET",
            &format!("{}:{{q:{q}}}:payload", app.prefix),
            bad_id,
            "{",
        ])
        .await;
    flush_scripts(&redis).await;
    app.get(&format!("/v1/queues/{q}/tasks/{bad_id}"))
        .await
        .assert_problem(404, "not-found");
    let quarantined: Option<f64> = redis
        .cmd(&[
            "ZSCORE",
            &format!("{}:{{q:{q}}}:quarantine", app.prefix),
            bad_id,
        ])
        .await;
    assert!(quarantined.is_some());

    // The reaper's script too: a sweep right after a flush reclaims an expired lease.
    app.submit(&q, json!({"payload": 4})).await;
    let expiring = app.lease(&q, json!({"lease_ms": 1000})).await.remove(0);
    let expired_id = expiring["task"]["id"]
        .as_str()
        .expect("a leased task has an id")
        .to_owned();
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    let reaper = tokio::sync::Mutex::new(taskgate::store::sweep::Reaper::new(store.sweep));
    let (app, q, id, redis, reaper) = (&app, &q, &expired_id, &redis, &reaper);
    eventually("the expired lease to be reclaimed", || async move {
        flush_scripts(redis).await;
        let tick = reaper.lock().await.tick().await;
        assert_eq!(tick.queues_failed, 0, "sweep after the flush: {tick:?}");
        (tick.reclaimed > 0).then_some(())
    })
    .await;
    assert_ne!(
        app.stored_meta(q, id).await.expect("meta")["state"],
        "leased"
    );
}

/// An ACL that allows scripts and not functions (`-fcall -function`, as a user set up for an
/// older version may be): `FCALL` answers `NOPERM`, every call runs as an EVAL script instead,
/// and nothing fails; no library is loaded.
#[tokio::test]
async fn a_user_without_functions_runs_every_call_as_an_eval_script() {
    let redis = RedisServer::start();
    let () = redis
        .cmd(&[
            "ACL",
            "SETUSER",
            "scripts-only",
            "on",
            ">pw",
            "~*",
            "&*",
            "+@all",
            "-fcall",
            "-function",
        ])
        .await;
    let url = redis
        .url()
        .replacen("redis://", "redis://scripts-only:pw@", 1);
    let app = TestApp::start_with(
        &redis,
        &[&format!("--redis-url={url}"), "--reaper-interval-ms=0"],
    )
    .await;
    let q = queue("acl-no-functions");
    let evals = redis.calls_of("evalsha").await;
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let acked = app.worker_call(&lease, "ack", json!({"result": 2})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.body["result"], 2);
    assert!(redis.calls_of("evalsha").await >= evals + 3);
    let loaded: Vec<redis::Value> = redis.cmd(&["FUNCTION", "LIST"]).await;
    assert!(loaded.is_empty(), "a library was loaded: {loaded:?}");
}
