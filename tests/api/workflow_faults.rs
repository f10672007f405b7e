//! Dependencies through faults: an instance killed with SIGKILL between a parent's ack and its
//! children's release (held there by the test-only pause point), with two other instances
//! sweeping: every child is released exactly once, within the outbox grace and one sweep
//! interval; and a child whose parent's bookkeeping was deleted is still released by the
//! sweep's re-check.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};
use crate::process::Server;
use taskgate::model::OUTBOX_GRACE_MS;

/// The default sweep interval (`TASKGATE_REAPER_INTERVAL_MS`).
const SWEEP_MS: u64 = 500;

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let reply = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert!(reply.status().is_success(), "{path}: {}", reply.status());
    reply.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_ack_and_release_releases_each_child_exactly_once() {
    let redis = RedisServer::shared();
    let url = redis.url();
    let prefix = format!("deps{}", std::process::id());
    let env = [
        ("TASKGATE_REDIS_URL", url.as_str()),
        ("TASKGATE_KEY_PREFIX", prefix.as_str()),
    ];
    // The instance that acks waits 30 s before delivering: it is killed long before.
    let paused: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("TASKGATE_TEST_DELIVERY_PAUSE_MS", "30000")])
        .collect();
    let mut acker = Server::spawn(&paused, &[]);
    let mut sweepers: Vec<Server> = (0..2).map(|_| Server::spawn(&env, &[])).collect();
    acker.wait_up();
    for server in &mut sweepers {
        server.wait_up();
    }
    let client = reqwest::Client::new();
    let base = sweepers[0].base.clone();
    let (qp, qc1, qc2) = (queue("kill-p"), queue("kill-c1"), queue("kill-c2"));
    let parent = post(
        &client,
        &base,
        &format!("/v1/queues/{qp}/tasks"),
        json!({"payload": 0}),
    )
    .await;
    let depends = json!([{"queue": qp, "id": parent["id"]}]);
    let mut children = BTreeSet::new();
    for i in 0..20 {
        let q = if i % 2 == 0 { &qc1 } else { &qc2 };
        let body = json!({"payload": i, "depends_on": depends});
        let child = post(&client, &base, &format!("/v1/queues/{q}/tasks"), body).await;
        assert_eq!(child["state"], "waiting");
        children.insert(child["id"].as_str().expect("id").to_owned());
    }

    let leases = post(
        &client,
        &acker.base,
        &format!("/v1/queues/{qp}/leases"),
        json!({}),
    )
    .await;
    let lease = &leases["leases"][0];
    let id = parent["id"].as_str().expect("id");
    let ack = json!({"lease_id": lease["lease_id"], "result": {"ok": true}});
    post(
        &client,
        &acker.base,
        &format!("/v1/queues/{qp}/tasks/{id}/ack"),
        ack,
    )
    .await;
    acker.signal("KILL");
    acker.wait_exit(Duration::from_secs(5));
    let killed = Instant::now();

    // The other instances' sweeps deliver it, whichever does, each child once.
    let mut leased = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while leased.len() < children.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of 20 released",
            leased.len()
        );
        for (i, q) in [&qc1, &qc2].into_iter().enumerate() {
            let got = post(
                &client,
                &sweepers[i].base,
                &format!("/v1/queues/{q}/leases"),
                json!({"max_tasks": 20}),
            )
            .await;
            for lease in got["leases"].as_array().expect("leases") {
                leased.push(lease["task"]["id"].as_str().expect("id").to_owned());
                assert_eq!(
                    lease["task"]["dependencies"][0]["result"],
                    json!({"ok": true})
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released_in = killed.elapsed();
    let distinct: BTreeSet<String> = leased.iter().cloned().collect();
    assert_eq!(distinct, children, "every child, and only the children");
    assert_eq!(leased.len(), 20, "each child released once: {leased:?}");
    let bound = Duration::from_millis(OUTBOX_GRACE_MS + SWEEP_MS + 700);
    println!(
        "killed after the ack: 20 children released by the sweep in {released_in:?} (bound {bound:?})"
    );
    assert!(released_in < bound, "{released_in:?}");
    // Nothing more: a second release would show up as a second ready entry.
    tokio::time::sleep(Duration::from_millis(2 * SWEEP_MS)).await;
    for q in [&qc1, &qc2] {
        let more = post(
            &client,
            &base,
            &format!("/v1/queues/{q}/leases"),
            json!({"max_tasks": 20}),
        )
        .await;
        assert_eq!(more["leases"], json!([]), "{q}");
    }
    let outbox = format!("{prefix}:{{q:{qp}}}:outbox");
    let left: i64 = redis.cmd(&["ZCARD", &outbox]).await;
    assert_eq!(left, 0, "delivered, the outbox entry goes");
}

/// A parent's record of its dependents (and its outbox) deleted behind its back: the child's
/// own re-check (`DEPENDENCY_RECHECK_MS`) finds the parent's outcome: a DEL of the parent
/// queue's `kids` before the ack, and the sweep's re-link heals it as soon as the child is due
/// (its due time is moved to now to keep the test short).
#[tokio::test]
async fn a_child_whose_link_was_lost_is_released_by_the_recheck() {
    let app = TestApp::start().await;
    let redis = RedisServer::shared();
    let (qp, qc) = (queue("lost-p"), queue("lost-c"));
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    let body = json!({"payload": 2, "depends_on": [{"queue": qp, "id": parent["id"]}]});
    let child = app.submit(&qc, body).await;
    let kids = format!("{}:{{q:{qp}}}:kids", app.prefix);
    let removed: i64 = redis.cmd(&["DEL", &kids]).await;
    assert_eq!(removed, 1, "the link was there");
    let lease = app.lease_one(&qp).await;
    let ack = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(ack.status, StatusCode::OK);
    let dlink = format!("{}:{{q:{qc}}}:dlink", app.prefix);
    let id = child["id"].as_str().expect("id");
    let _: i64 = redis.cmd(&["ZADD", &dlink, "0", id]).await;
    let released = eventually("the child to be released", || async {
        let task = app.task(&qc, id).await;
        (task["state"] == "ready").then_some(task)
    })
    .await;
    assert_eq!(released["dependencies"][0]["state"], "completed");
}
