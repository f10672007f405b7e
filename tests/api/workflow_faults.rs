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

/// Redis full: the ack (which only shrinks state) goes through and the parent's outcome waits
/// in its outbox, as the delivery that would copy it into the child is refused; once there is
/// room, the sweep delivers it and the child runs.
#[tokio::test]
async fn a_full_redis_keeps_an_outcome_in_the_outbox_until_there_is_room() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let (qp, qc) = (queue("full-p"), queue("full-c"));
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    let body = json!({"payload": 2, "depends_on": [{"queue": qp, "id": parent["id"]}]});
    let child = app.submit(&qc, body).await;
    let lease = app.lease_one(&qp).await;
    let used = redis.memory("used_memory").await;
    redis.config_set("maxmemory", &used.to_string()).await;
    let mark = crate::harness::log_mark();
    let ack = app.worker_call(&lease, "ack", json!({})).await;
    assert_eq!(
        ack.status,
        StatusCode::OK,
        "an ack only shrinks state: {}",
        ack.body
    );
    let parent_id = parent["id"].as_str().expect("id");
    eventually("the refused delivery", || async {
        let lines = crate::harness::log_lines_since(mark, "delivering a task's outcome");
        lines.iter().any(|l| l.contains(parent_id)).then_some(())
    })
    .await;
    let id = child["id"].as_str().expect("id");
    assert_eq!(app.task(&qc, id).await["state"], "waiting");
    let outbox = format!("{}:{{q:{qp}}}:outbox", app.prefix);
    let held: i64 = redis.cmd(&["ZCARD", &outbox]).await;
    assert_eq!(held, 1, "the outcome waits in the outbox");
    redis.config_set("maxmemory", "0").await;
    app.task_when(&qc, id, |t| t["state"] == "ready").await;
    let left: i64 = redis.cmd(&["ZCARD", &outbox]).await;
    assert_eq!(left, 0);
}

/// Bookkeeping deleted or damaged behind the service's back: a lost outbox entry is made up
/// by the child's re-check; a lost list of parents ends the child dead (it could never hear
/// from them), not waiting forever; a damaged outcome field reads as pending, not as an
/// unreadable task, and the parent's outcome is still taken.
#[tokio::test]
async fn lost_or_damaged_bookkeeping_never_strands_a_child() {
    let app = TestApp::start().await;
    let redis = RedisServer::shared();
    let (qp, qc) = (queue("mend-p"), queue("mend-c"));
    let key = |q: &str, role: &str| format!("{}:{{q:{q}}}:{role}", app.prefix);
    let after =
        |parent: &Value| json!({"payload": 0, "depends_on": [{"queue": qp, "id": parent["id"]}]});
    let due_now = |id: &str| {
        let dlink = key(&qc, "dlink");
        let id = id.to_owned();
        async move {
            let _: i64 = RedisServer::shared().cmd(&["ZADD", &dlink, "0", &id]).await;
        }
    };

    // The outbox entry lost between the ack and its delivery (the acking instance pauses).
    let parent = app.submit(&qp, json!({"payload": 1})).await;
    let child = app.submit(&qc, after(&parent)).await;
    let child_id = child["id"].as_str().expect("id");
    let _: i64 = redis.cmd(&["DEL", &key(&qp, "kids")]).await;
    let lease = app.lease_one(&qp).await;
    app.worker_call(&lease, "ack", json!({})).await;
    let _: i64 = redis.cmd(&["DEL", &key(&qp, "outbox")]).await;
    due_now(child_id).await;
    app.task_when(&qc, child_id, |t| t["state"] == "ready")
        .await;

    // The child's list of parents deleted: it goes dead, saying why.
    let parent = app.submit(&qp, json!({"payload": 2})).await;
    let lost = app.submit(&qc, after(&parent)).await;
    let lost_id = lost["id"].as_str().expect("id");
    let _: i64 = redis.cmd(&["HDEL", &key(&qc, "parents"), lost_id]).await;
    due_now(lost_id).await;
    let dead = app
        .task_when(&qc, lost_id, |t| t["state"] != "waiting")
        .await;
    assert_eq!(dead["state"], "dead", "{dead}");
    assert_eq!(dead["errors"][0]["kind"], "dependency", "{dead}");

    // A damaged outcome: shown as pending, the task still reads. (The second parent is
    // still ready in `qp`: this one comes first, by priority.)
    let parent = app.submit(&qp, json!({"payload": 3, "priority": 9})).await;
    let damaged = app.submit(&qc, after(&parent)).await;
    let damaged_id = damaged["id"].as_str().expect("id");
    let field = format!("{damaged_id} {qp} {}", parent["id"].as_str().expect("id"));
    let _: i64 = redis
        .cmd(&["HSET", &key(&qc, "depres"), &field, "garbage {"])
        .await;
    let read = app.task(&qc, damaged_id).await;
    assert_eq!(read["dependencies"][0]["state"], "pending", "{read}");
    // ...and the parent's outcome is still taken when it comes.
    let lease = app.lease_one(&qp).await;
    assert_eq!(lease["task"]["id"], parent["id"]);
    app.worker_call(&lease, "ack", json!({})).await;
    let released = app
        .task_when(&qc, damaged_id, |t| t["state"] == "ready")
        .await;
    assert_eq!(released["dependencies"][0]["state"], "completed");
}
