//! Replicated writes and their waits for replicas (`WAIT`): writes of a queue that come while
//! one waits are stored at once and share the next wait; a write that changed nothing (a
//! replay) is confirmed only once the replicas have what it answers with; and a marker Redis
//! refuses (at `maxmemory`) confirms nothing.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::batching::replayed;
use crate::harness::{REPLICATED, RedisServer, TestApp, eventually, queue};
use crate::replication::{blocked_in_wait, replica_of};

/// An app on `master` whose replicated writes wait for replicas up to 19 s (well past the 10 s
/// the tests give a wait to begin, and a replica's first sync), with no reaper writing.
async fn waiting_app(master: &RedisServer) -> Arc<TestApp> {
    let flags = [
        "--reaper-interval-ms=0",
        "--replica-wait-ms=19000",
        "--redis-response-timeout-ms=20000",
    ];
    Arc::new(TestApp::start_with(master, &flags).await)
}

/// A Redis with a replica in sync, an app on it (`waiting_app`), and a queue.
async fn with_replica(name: &str) -> (RedisServer, RedisServer, Arc<TestApp>, String) {
    let master = RedisServer::start();
    let replica = replica_of(&master).await;
    let app = waiting_app(&master).await;
    (master, replica, app, queue(name))
}

/// Writes of a queue that come while a replicated write waits for its replicas are stored at
/// once, and share one wait: with no replica yet, ten replicated submits sent while the first
/// waits are all stored and Redis holds one `WAIT`, not eleven; once a replica comes, every
/// one is answered as confirmed by it, after two `WAIT`s in all.
#[tokio::test]
async fn replicated_writes_that_come_during_a_wait_are_stored_and_share_the_next_wait() {
    let master = RedisServer::start();
    let app = waiting_app(&master).await;
    let q = queue("wait-shared");
    let replicated = |n: usize| {
        let (app, q) = (app.clone(), q.clone());
        tokio::spawn(async move { app.submit_replicated(&q, json!({"payload": n})).await })
    };
    let first = replicated(0);
    blocked_in_wait(&master, 1).await;
    let later: Vec<_> = (1..=10).map(replicated).collect();
    let (app_ref, q_ref) = (&app, &q);
    eventually("the later writes to be stored", || async move {
        let stats = app_ref.queue_stats(q_ref).await;
        (stats["counts"]["ready"] == 11).then_some(())
    })
    .await;
    let clients: String = master.cmd(&["INFO", "clients"]).await;
    assert!(clients.contains("blocked_clients:1\r"), "{clients}");
    assert!(!first.is_finished(), "the first wait ended early");

    let _replica = replica_of(&master).await;
    for waiting in std::iter::once(first).chain(later) {
        let reply = waiting.await.expect("join");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.headers["taskgate-replicas"], "1");
    }
    let stats: String = master.cmd(&["INFO", "commandstats"]).await;
    assert!(stats.contains("cmdstat_wait:calls=2,"), "{stats}");
}

/// A replicated write that changed nothing is confirmed only once the replicas have what it
/// answers with: with the replica stopped (SIGSTOP) after a keyed submit stored its task, a
/// replay of that submit is not confirmed either (`503`, like the submit it replays), though
/// its own script wrote nothing the replica lacks; once the replica goes on, the same replay is
/// confirmed.
#[tokio::test]
async fn a_replayed_replicated_write_waits_for_the_write_it_replays() {
    let master = RedisServer::start();
    let replica = replica_of(&master).await;
    let flags = ["--reaper-interval-ms=0", "--replica-wait-ms=1500"];
    let app = Arc::new(TestApp::start_with(&master, &flags).await);
    let q = queue("replay-waits");
    // The scripts loaded, and the replica has all there is.
    let warm = app.submit_replicated(&q, json!({"payload": 0})).await;
    assert_eq!(warm.status, StatusCode::CREATED, "{}", warm.body);
    let stopped = replica.stopped();
    let keyed = || {
        let (app, path) = (app.clone(), format!("/v1/queues/{q}/tasks"));
        tokio::spawn(async move {
            let headers = [REPLICATED, ("idempotency-key", "stored-once")];
            let body = json!({"payload": 1});
            app.request_with(Method::POST, &path, Some(&body), &headers)
                .await
        })
    };
    let first = keyed();
    blocked_in_wait(&master, 1).await;
    let replay = keyed();
    let (first, replay) = (first.await.expect("join"), replay.await.expect("join"));
    for reply in [&first, &replay] {
        let detail = reply.assert_problem(503, "unavailable")["detail"]
            .as_str()
            .expect("detail")
            .to_owned();
        assert!(detail.contains("0 of the 1 replicas"), "{detail}");
    }
    drop(stopped);
    let again = keyed().await.expect("join");
    assert!(again.status.is_success(), "{}", again.body);
    assert_eq!(again.headers["taskgate-replicas"], "1");
    assert!(replayed(&again));
}

/// At `maxmemory` an ack still runs (it frees memory), but Redis refuses the marker that a
/// replicated write's `WAIT` follows, so nothing can say the replicas have all the ack answered
/// from: a replicated ack is then a `503` (not confirmed), and the same ack once Redis has room
/// again is confirmed.
#[tokio::test]
async fn a_replicated_ack_at_maxmemory_is_not_confirmed() {
    let (master, _replica, app, q) = with_replica("full-replicated").await;
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let path = format!(
        "/v1/queues/{q}/tasks/{}/ack",
        lease["task"]["id"].as_str().expect("id")
    );
    let body = json!({"lease_id": lease["lease_id"]});
    master.config_set("maxmemory", "1").await;
    let full = app
        .request_with(Method::POST, &path, Some(&body), &[REPLICATED])
        .await;
    full.assert_problem(503, "unavailable");
    master.config_set("maxmemory", "0").await;
    let again = app
        .request_with(Method::POST, &path, Some(&body), &[REPLICATED])
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.headers["taskgate-replicas"], "1");
}
