//! What only a cluster has: a master killed under load, a queue's slot moved to another master
//! while it is used, and queues spread over every master. The same taskgate process serves
//! throughout, with no restart; no request ever gets a 500.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::harness::{FAILOVER_FLAGS, RedisServer, TestApp, eventually, queue};
use crate::redis_cluster::node_command;

/// Statuses and created task ids seen by a background load.
#[derive(Default)]
struct Seen {
    statuses: Vec<u16>,
    created: Vec<String>,
}

/// Submits (and leases and acks half of what it submits) until `stop`, recording every answer.
fn load(
    app: &Arc<TestApp>,
    q: &str,
    stop: &Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (app, q, stop, record) = (app.clone(), q.to_owned(), stop.clone(), seen.clone());
    let handle = tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let reply = app
                .post(&format!("/v1/queues/{q}/tasks"), json!({"payload": n}))
                .await;
            let mut seen = record.lock().await;
            seen.statuses.push(reply.status.as_u16());
            if reply.status == StatusCode::CREATED {
                seen.created
                    .push(reply.body["id"].as_str().expect("id").to_owned());
            }
            drop(seen);
            if n % 2 == 0 {
                let leased = app.post(&format!("/v1/queues/{q}/leases"), json!({})).await;
                record.lock().await.statuses.push(leased.status.as_u16());
                if let Some(lease) = leased.body["leases"].as_array().and_then(|l| l.first()) {
                    let acked = app.worker_call(lease, "ack", json!({})).await;
                    record.lock().await.statuses.push(acked.status.as_u16());
                }
            }
            if reply.status != StatusCode::CREATED {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    (handle, seen)
}

async fn durable_submit(app: &TestApp, q: &str, n: usize) -> String {
    let reply = app.submit_replicated(q, json!({"payload": n})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let replicas = reply.headers["taskgate-replicas"].to_str().expect("ascii");
    assert!(replicas.parse::<u32>().expect("a count") >= 1);
    reply.body["id"].as_str().expect("id").to_owned()
}

/// A master killed with SIGKILL while producers and workers run: calls about its slots answer
/// 503 (never 500) until its replica takes over, then the same process serves them again. Every
/// task submitted with `Taskgate-Durability: replicated` survives; tasks submitted without it
/// in the last moment before the kill may not (asynchronous replication), and the test says how
/// many did not.
#[tokio::test]
async fn a_killed_master_is_replaced_and_the_same_process_serves_again() {
    let mut redis = RedisServer::start_cluster();
    let app = Arc::new(TestApp::start_with(&redis, &FAILOVER_FLAGS).await);
    let q = queue("failover");
    let mut durable = Vec::new();
    for n in 0..20 {
        durable.push(durable_submit(&app, &q, n).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (running, seen) = load(&app, &q, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let key = format!("{}:{{q:{q}}}:meta", app.prefix);
    let master = redis.cluster().master_of(&key);
    redis.cluster_mut().kill(master);
    let took = app.served_again(&q, Duration::from_secs(30)).await;
    println!("failover: the queue served again {took:?} after the kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    running.await.expect("load");

    let seen = seen.lock().await;
    assert!(!seen.statuses.contains(&500), "a 500 during failover");
    assert!(seen.statuses.contains(&503), "the kill was not felt");
    for id in &durable {
        assert_eq!(
            app.get(&format!("/v1/queues/{q}/tasks/{id}")).await.status,
            StatusCode::OK,
            "durable task {id} lost"
        );
    }
    let mut lost = 0;
    for id in &seen.created {
        if app.get(&format!("/v1/queues/{q}/tasks/{id}")).await.status == StatusCode::NOT_FOUND {
            lost += 1;
        }
    }
    println!(
        "failover: {lost} of {} tasks acknowledged without replication were lost",
        seen.created.len()
    );

    // A whole lifecycle, and a long-poll woken by a submit, on the same process.
    let other = queue("after-failover");
    let waiting = app.long_poll(&other);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.submit(&other, json!({"payload": "after"})).await;
    let woken: Value = waiting.await.expect("join");
    let lease = woken["leases"][0].clone();
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
}

/// A queue's slot moved to another master while producers and workers use it (clients meet
/// `ASK`, then `MOVED`): no 500, no task lost, and afterwards every call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_queues_slot_needs_no_restart_and_loses_nothing() {
    let redis = RedisServer::shared();
    let app = Arc::new(TestApp::start_with(redis, &[]).await);
    let q = queue("reshard");
    let stop = Arc::new(AtomicBool::new(false));
    let (running, seen) = load(&app, &q, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let key = format!("{}:{{q:{q}}}:meta", app.prefix);
    let before = redis.cluster().master_of(&key);
    let cluster = redis.cluster();
    let after = tokio::task::block_in_place(|| cluster.move_slot_of(&key));
    assert_ne!(before, after);
    assert_eq!(redis.cluster().master_of(&key), after);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    running.await.expect("load");
    let seen = seen.lock().await;
    assert!(
        !seen.statuses.contains(&500),
        "a 500 during the move: {:?}",
        seen.statuses
    );
    for id in &seen.created {
        assert_eq!(
            app.get(&format!("/v1/queues/{q}/tasks/{id}")).await.status,
            StatusCode::OK,
            "task {id} lost"
        );
    }
    // After the move every call succeeds at once.
    for n in 0..20 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let lease = app.lease_one(&q).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
}

/// A queue whose slot moved to a master that has none of taskgate's functions (one restarted
/// without data, or new) while this process still has the old map: its calls are sent on there
/// (`MOVED`), where taskgate loads what they need, with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_sent_on_to_a_master_without_the_functions_load_them_there() {
    let redis = RedisServer::start_cluster();
    let app = TestApp::start_with(&redis, &[]).await;
    let q = queue("moved");
    app.submit(&q, json!({"payload": "before"})).await;
    let key = format!("{}:{{q:{q}}}:meta", app.prefix);
    let cluster = redis.cluster();
    let to = tokio::task::block_in_place(|| cluster.move_slot_of(&key));
    assert!(node_command(to, &["FUNCTION", "FLUSH"]).is_some());
    let id = app.submit(&q, json!({"payload": "after"})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for _ in 0..2 {
        let lease = app.lease_one(&q).await;
        assert_eq!(
            app.worker_call(&lease, "ack", json!({})).await.status,
            StatusCode::OK
        );
        if lease["task"]["id"] == id.as_str() {
            return;
        }
    }
    panic!("task {id} was never leased");
}

/// Queues land on every master; the registry, deleted, heals from all of them (its scan visits
/// each master in turn), and the listing shows every queue again.
#[tokio::test]
async fn the_queue_registry_heals_from_every_master() {
    let redis = RedisServer::shared();
    let app = TestApp::start_with(redis, &[]).await;
    let names: Vec<String> = (0..12).map(|_| queue("spread")).collect();
    let mut masters = std::collections::BTreeSet::new();
    for name in &names {
        app.submit(name, json!({"payload": 1})).await;
        masters.insert(
            redis
                .cluster()
                .master_of(&format!("{}:{{q:{name}}}:meta", app.prefix)),
        );
    }
    assert!(masters.len() >= 2, "the queues all landed on one master");
    let () = redis.cmd(&["DEL", &format!("{}:queues", app.prefix)]).await;
    eventually("every queue to be listed again", || async {
        let listed = app.get("/v1/queues?limit=100").await.body;
        let listed: Vec<&str> = listed["queues"]
            .as_array()?
            .iter()
            .filter_map(|q| q["name"].as_str())
            .collect();
        names
            .iter()
            .all(|n| listed.contains(&n.as_str()))
            .then_some(())
    })
    .await;
}
