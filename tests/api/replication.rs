//! Replicas: opt-in replicated durability (`Taskgate-Durability: replicated`, answered only
//! once a replica has the change), and Redis Sentinel, whose failover the same taskgate process
//! follows under load with no restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Mutex;

use crate::harness::{
    FAILOVER_FLAGS, REPLICATED, RedisServer, Reply, TempDir, TestApp, eventually, queue,
    redis_server_binary, spawn_watched,
};

/// A replica of `master`, in sync with it.
pub async fn replica_of(master: &RedisServer) -> RedisServer {
    let port = master.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let replica_ref = &replica;
    eventually("the replica to sync", || async move {
        let info: String = replica_ref.cmd(&["INFO", "replication"]).await;
        info.contains("master_link_status:up").then_some(())
    })
    .await;
    replica
}

/// A replicated submit of `{"payload": n}` to `queue`, sent on a task of its own.
pub fn submit_replicated_soon(
    app: &Arc<TestApp>,
    queue: &str,
    n: usize,
) -> tokio::task::JoinHandle<Reply> {
    let (app, queue) = (app.clone(), queue.to_owned());
    tokio::spawn(async move { app.submit_replicated(&queue, json!({ "payload": n })).await })
}

/// Waits until exactly `n` clients of `redis` are blocked (replicated writes in their `WAIT`).
pub async fn blocked_in_wait(redis: &RedisServer, n: usize) {
    eventually("replicated writes to wait in WAIT", || async move {
        let clients: String = redis.cmd(&["INFO", "clients"]).await;
        clients
            .contains(&format!("blocked_clients:{n}\r"))
            .then_some(())
    })
    .await;
}

/// With a replica, a replicated submit and ack are answered once it has them, and say how many
/// replicas confirmed; without one, the answer is a `503` that says the change is on the
/// primary only (and a retry with the same key replays it). A wrong value is a `422`.
#[tokio::test]
async fn replicated_writes_wait_for_a_replica_or_say_they_did_not_get_one() {
    let master = RedisServer::start();
    let _replica = replica_of(&master).await;
    let app = TestApp::start_with(&master, &[]).await;
    let q = queue("replicated");
    let created = app.submit_replicated(&q, json!({"payload": 1})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers["taskgate-replicas"], "1");
    let lease = app.lease_one(&q).await;
    let path = format!(
        "/v1/queues/{q}/tasks/{}/ack",
        lease["task"]["id"].as_str().expect("id")
    );
    let body = json!({"lease_id": lease["lease_id"]});
    let acked = app
        .request_with(Method::POST, &path, Some(&body), &[REPLICATED])
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.headers["taskgate-replicas"], "1");

    let alone = RedisServer::start();
    let app = TestApp::start_with(&alone, &["--replica-wait-ms=200"]).await;
    let started = Instant::now();
    let path = format!("/v1/queues/{q}/tasks");
    let body = json!({"payload": 2});
    let keyed = [REPLICATED, ("idempotency-key", "only-on-the-primary")];
    let refused = app
        .request_with(Method::POST, &path, Some(&body), &keyed)
        .await;
    let detail = refused.assert_problem(503, "unavailable")["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(detail.contains("0 of the 1 replicas"), "{detail}");
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
    let again = app
        .request_with(Method::POST, &path, Some(&body), &keyed)
        .await;
    again.assert_problem(503, "unavailable");
    assert_eq!(
        app.queue_stats(&q).await["totals"]["submitted"],
        1,
        "one task, not two"
    );
    app.request_with(
        Method::POST,
        &path,
        Some(&body),
        &[("taskgate-durability", "maybe")],
    )
    .await
    .assert_problem(422, "validation");
}

/// An ack that changes nothing (a lost lease, an unknown task, a result over the queue's cap)
/// is answered for what it is, replicated durability or not: with no replica to confirm, it is
/// its own `409`, `404` or `413`, never a `503` claiming the ack is stored on the primary.
#[tokio::test]
async fn a_replicated_ack_that_changes_nothing_answers_its_own_outcome() {
    let alone = RedisServer::start();
    let app = TestApp::start_with(&alone, &["--replica-wait-ms=200"]).await;
    let q = queue("replicated-outcome");
    app.patch_policy(&q, json!({"max_payload_bytes": 8})).await;
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    let id = lease["task"]["id"].as_str().expect("a task id");
    let ack = |task: &str| format!("/v1/queues/{q}/tasks/{task}/ack");
    let stale = json!({"lease_id": "0123456789abcdef0123456789abcdef"});
    app.request_with(Method::POST, &ack(id), Some(&stale), &[REPLICATED])
        .await
        .assert_problem(409, "lease-lost");
    let unknown = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11";
    app.request_with(Method::POST, &ack(unknown), Some(&stale), &[REPLICATED])
        .await
        .assert_problem(404, "not-found");
    let large = json!({"lease_id": lease["lease_id"], "result": "far more than eight bytes"});
    app.request_with(Method::POST, &ack(id), Some(&large), &[REPLICATED])
        .await
        .assert_problem(413, "payload-too-large");
    // The real ack does need its replica, and says it did not get one.
    let real = json!({"lease_id": lease["lease_id"]});
    app.request_with(Method::POST, &ack(id), Some(&real), &[REPLICATED])
        .await
        .assert_problem(503, "unavailable");
}

/// Batch submits and batch acks wait for the replica too, and say how many confirmed; without
/// one, the whole call is a `503`, and repeating it stores nothing twice: each task's
/// `idempotency_key` gives the same tasks back, each ack is replayed. A batch that wrote
/// nothing (every item refused) has nothing to wait for.
#[tokio::test]
async fn replicated_batches_wait_for_a_replica_or_say_they_did_not_get_one() {
    let submit_batch = |q: &str| format!("/v1/queues/{q}/tasks:batch");
    let ack_batch = |q: &str| format!("/v1/queues/{q}/acks");
    let acks_of = |leases: &[serde_json::Value]| {
        let acks: Vec<_> = leases
            .iter()
            .map(|l| json!({"id": l["task"]["id"], "lease_id": l["lease_id"]}))
            .collect();
        json!({ "acks": acks })
    };
    let tasks = json!({"tasks": [
        {"payload": 1, "idempotency_key": "first"},
        {"payload": 2, "idempotency_key": "second"},
    ]});

    let master = RedisServer::start();
    let _replica = replica_of(&master).await;
    let app = TestApp::start_with(&master, &[]).await;
    let q = queue("replicated-batch");
    let created = app
        .request_with(Method::POST, &submit_batch(&q), Some(&tasks), &[REPLICATED])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.headers["taskgate-replicas"], "1");
    assert_eq!(created.body["results"][1]["status"], 201);
    let leases = app.lease(&q, json!({"max_tasks": 2})).await;
    let acked = app
        .request_with(
            Method::POST,
            &ack_batch(&q),
            Some(&acks_of(&leases)),
            &[REPLICATED],
        )
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.headers["taskgate-replicas"], "1");
    assert_eq!(acked.body["results"][1]["status"], 200);

    let alone = RedisServer::start();
    let app = TestApp::start_with(&alone, &["--replica-wait-ms=200"]).await;
    for _ in 0..2 {
        let refused = app
            .request_with(Method::POST, &submit_batch(&q), Some(&tasks), &[REPLICATED])
            .await;
        let detail = refused.assert_problem(503, "unavailable")["detail"]
            .as_str()
            .expect("detail")
            .to_owned();
        assert!(detail.contains("0 of the 1 replicas"), "{detail}");
        assert!(detail.contains("idempotency_key"), "{detail}");
    }
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["submitted"], 2, "two tasks, not four");
    let leases = app.lease(&q, json!({"max_tasks": 2})).await;
    assert_eq!(leases.len(), 2);
    app.request_with(
        Method::POST,
        &ack_batch(&q),
        Some(&acks_of(&leases)),
        &[REPLICATED],
    )
    .await
    .assert_problem(503, "unavailable");
    let replayed = app.post(&ack_batch(&q), acks_of(&leases)).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    for result in replayed.body["results"].as_array().expect("results") {
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(result["replayed"], true, "the first ack stood: {result}");
    }

    let nothing = json!({"tasks": [{"payload": 3, "priority": 5000}]});
    let refused_items = app
        .request_with(
            Method::POST,
            &submit_batch(&q),
            Some(&nothing),
            &[REPLICATED],
        )
        .await;
    assert_eq!(
        refused_items.status,
        StatusCode::OK,
        "{}",
        refused_items.body
    );
    assert_eq!(refused_items.body["results"][0]["status"], 422);
}

/// A replicated write waiting for its replica holds no connection other requests use: while
/// one waits (here for a replica that does not exist), other calls, even on a pool of one
/// connection, are answered before it is. Such writes hold at most 8 connections per pooled
/// one: a ninth waiting at once is a `503` after the pool's wait, and plain calls still work.
/// (Each goes to a queue of its own: replicated writes to one queue travel together and share
/// one wait, `a_replicated_write_per_caller_holds_when_writes_travel_together`.)
#[tokio::test]
async fn a_write_waiting_for_replicas_does_not_hold_up_other_requests() {
    let alone = RedisServer::start();
    let flags = [
        "--redis-pool-size=1",
        "--replica-wait-ms=1900",
        "--redis-wait-timeout-ms=300",
    ];
    let app = Arc::new(TestApp::start_with(&alone, &flags).await);
    let q = queue("waits-alone");
    app.submit(&q, json!({"payload": "before"})).await;
    let replicated = |n: usize| submit_replicated_soon(&app, &format!("{q}-{n}"), n);
    let first = replicated(0);
    blocked_in_wait(&alone, 1).await;
    for _ in 0..3 {
        assert!(app.queue_stats(&q).await["counts"]["ready"].is_u64());
        app.submit(&q, json!({"payload": "meanwhile"})).await;
    }
    assert!(
        !first.is_finished(),
        "the other calls were answered only after the wait ended"
    );

    let others: Vec<_> = (1..8).map(replicated).collect();
    blocked_in_wait(&alone, 8).await;
    let ninth = app
        .submit_replicated(&format!("{q}-9"), json!({"payload": 9}))
        .await;
    let detail = ninth.assert_problem(503, "unavailable")["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(detail.contains("all 8 connections"), "{detail}");
    assert!(
        !first.is_finished(),
        "the ninth was refused before the wait ended"
    );
    let clients: String = alone.cmd(&["INFO", "clients"]).await;
    assert!(
        clients.contains("blocked_clients:8\r"),
        "the ninth never reached Redis: {clients}"
    );
    assert!(app.queue_stats(&q).await["counts"]["ready"].is_u64());
    for waiting in std::iter::once(first).chain(others) {
        waiting
            .await
            .expect("join")
            .assert_problem(503, "unavailable");
    }
}

/// Three sentinels watching a master and its replica, on free ports.
struct Sentinels {
    ports: Vec<u16>,
    _children: Vec<std::process::Child>,
    _dir: TempDir,
}

impl Sentinels {
    fn start(master: &RedisServer) -> Self {
        let dir = TempDir::new("sentinel");
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("a free port")
            })
            .collect();
        let children = ports
            .iter()
            .map(|port| {
                let conf = dir.join(&format!("sentinel-{port}.conf"));
                std::fs::write(
                    &conf,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {}\n\
                         sentinel monitor main 127.0.0.1 {} 2\n\
                         sentinel down-after-milliseconds main 1000\n\
                         sentinel failover-timeout main 5000\n",
                        dir.display(),
                        master.port
                    ),
                )
                .expect("sentinel.conf");
                // The sentinels' folder is `dir` (in their config), removed with `_dir`.
                spawn_watched(
                    &format!("{} {} --sentinel", redis_server_binary(), conf.display()),
                    None,
                )
            })
            .collect();
        Self {
            ports,
            _children: children,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/main", hosts.join(","))
    }

    /// Waits until every sentinel knows the replica and the other sentinels.
    async fn wait_ready(&self) {
        for port in &self.ports {
            let url = format!("redis://127.0.0.1:{port}");
            eventually("a sentinel to see the replica and its peers", || async {
                let client = deadpool_redis::redis::Client::open(url.as_str()).ok()?;
                let mut conn = crate::redis_server::connect(&client).await.ok()?;
                let master: Vec<String> = deadpool_redis::redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg("main")
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                let field = |name: &str| {
                    master
                        .iter()
                        .position(|f| f == name)
                        .and_then(|at| master.get(at + 1))
                        .and_then(|v| v.parse::<u32>().ok())
                };
                (field("num-slaves")? >= 1 && field("num-other-sentinels")? >= 2).then_some(())
            })
            .await;
        }
    }
}

/// The master is killed while producers submit: calls answer 503 (never 500) until the
/// sentinels promote the replica, then the same process serves again. Every task submitted
/// with replicated durability survives.
#[tokio::test]
async fn a_sentinel_failover_is_followed_by_the_same_process() {
    let mut master = RedisServer::start();
    let _replica = replica_of(&master).await;
    let sentinels = Sentinels::start(&master);
    sentinels.wait_ready().await;
    let url = format!("--redis-url={}", sentinels.url());
    let flags: Vec<&str> = std::iter::once(url.as_str())
        .chain(FAILOVER_FLAGS)
        .collect();
    let app = Arc::new(TestApp::start_with(&master, &flags).await);
    let q = queue("sentinel");
    let mut durable = Vec::new();
    for n in 0..20 {
        let reply = app.submit_replicated(&q, json!({"payload": n})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        durable.push(reply.body["id"].as_str().expect("id").to_owned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let load = {
        let (app, q, stop, statuses) = (app.clone(), q.clone(), stop.clone(), statuses.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let reply = app
                    .post(&format!("/v1/queues/{q}/tasks"), json!({"payload": n}))
                    .await;
                statuses.lock().await.push(reply.status.as_u16());
                if reply.status != StatusCode::CREATED {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    master.kill();
    let took = app.served_again(&q, Duration::from_secs(40)).await;
    println!("sentinel: served again {took:?} after the kill");
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load");
    let statuses = statuses.lock().await;
    assert!(!statuses.contains(&500), "a 500 during the failover");
    for id in &durable {
        let reply = app.get(&format!("/v1/queues/{q}/tasks/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "replicated task {id} lost");
    }
    let lease = app.lease_one(&q).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
}
