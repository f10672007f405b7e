//! Replicated writes and their waits for replicas (`WAIT`): a batch hands its lane on before
//! its wait, so a queue's next writes are not held back; a wait whose client went away leaves
//! no connection blocked for the next write; a write that changed nothing (a replay) is
//! confirmed only once the replicas have what it answers with; and a marker Redis refuses (at
//! `maxmemory`) confirms nothing.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::batching::{id, replayed};
use crate::harness::{REPLICATED, RedisServer, TestApp, eventually, queue};
use crate::replication::{blocked_in_wait, replica_of, submit_replicated_soon};

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

/// A replicated batch hands its lane on once its script has run, before its `WAIT`: with no
/// replica yet, a second replicated submit to the same queue is stored and waits for replicas
/// of its own while the first still waits; once a replica comes, both are answered as
/// confirmed by it.
#[tokio::test]
async fn a_replicated_write_waiting_for_replicas_does_not_hold_its_queue_back() {
    let master = RedisServer::start();
    let app = waiting_app(&master).await;
    let q = queue("wait-hands-on");
    let replicated = |n: usize| submit_replicated_soon(&app, &q, n);
    let first = replicated(1);
    blocked_in_wait(&master, 1).await;
    let second = replicated(2);
    blocked_in_wait(&master, 2).await;
    assert!(
        !first.is_finished(),
        "the first wait ended before the second began"
    );
    assert_eq!(app.queue_stats(&q).await["counts"]["ready"], 2);

    let _replica = replica_of(&master).await;
    for waiting in [first, second] {
        let reply = waiting.await.expect("join");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.headers["taskgate-replicas"], "1");
    }
}

/// A replicated write whose client goes away during its `WAIT` leaves no connection blocked
/// in Redis for the next one: with no replica, the first write's wait is abandoned (its client
/// gone, the server drops the call) while Redis still holds that `WAIT` for 19 s; the next
/// replicated writes are stored at once, not queued behind it on the same connection.
#[tokio::test]
async fn a_wait_abandoned_by_its_client_holds_up_no_later_write() {
    let master = RedisServer::start();
    let app = waiting_app(&master).await;
    let q = queue("wait-abandoned");
    let url = format!("{}/v1/queues/{q}/tasks", app.base);
    let gone = {
        let (url, (name, value)) = (url.clone(), REPLICATED);
        let request = reqwest::Client::new().post(url).header(name, value);
        tokio::spawn(async move { request.json(&json!({"payload": 1})).send().await })
    };
    blocked_in_wait(&master, 1).await;
    gone.abort();
    assert!(gone.await.is_err(), "the first client was cancelled");
    // Two more, one after the other: should the server not have dropped the first call yet
    // when the second checks out a connection (the pool then opens another), the third comes
    // once it has, while the second holds its own connection in its own WAIT.
    for n in [2, 3] {
        let _waiting = submit_replicated_soon(&app, &q, n);
        let (app, q) = (&app, &q);
        eventually("the next write to be stored", || async move {
            let stats = app.queue_stats(q).await;
            (stats["counts"]["ready"] == n as u64).then_some(())
        })
        .await;
    }
}

/// A replicated write that changed nothing is confirmed only once the replicas have what it
/// answers with: with the replica stopped (SIGSTOP) after a keyed submit stored its task, a
/// replay of that submit (its own script call, on a connection of its own, while the first
/// still waits) waits for the replica too, and both are confirmed once the replica goes on.
#[tokio::test]
async fn a_replayed_replicated_write_waits_for_the_write_it_replays() {
    let (master, replica, app, q) = with_replica("replay-waits").await;
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
    blocked_in_wait(&master, 2).await;
    drop(stopped);
    let (first, replay) = (first.await.expect("join"), replay.await.expect("join"));
    for reply in [&first, &replay] {
        assert!(reply.status.is_success(), "{}", reply.body);
        assert_eq!(reply.headers["taskgate-replicas"], "1");
    }
    assert!(replayed(&replay) && !replayed(&first));
    assert_eq!(id(&replay.body), id(&first.body));
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
