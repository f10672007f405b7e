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

/// Redis full: an outcome still reaches its children, so their waits end and the parent can
/// be purged (the memory comes back). One without a result goes as it is; one whose result
/// cannot be copied goes without it (`result_omitted`: the child reads it with GET). Here the
/// acking instance pauses before delivering, and Redis fills up meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_still_lets_outcomes_reach_their_children() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("TASKGATE_REDIS_URL", url.as_str()),
        ("TASKGATE_TEST_DELIVERY_PAUSE_MS", "1500"),
    ];
    let mut server = Server::spawn(&env, &[]);
    server.wait_up();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let (qp, qc) = (queue("full-p"), queue("full-c"));
    let mut children = Vec::new();
    for _ in 0..2 {
        let parent = post(
            &client,
            &base,
            &format!("/v1/queues/{qp}/tasks"),
            json!({"payload": 1}),
        )
        .await;
        let body = json!({"payload": 2, "depends_on": [{"queue": qp, "id": parent["id"]}]});
        children.push(post(&client, &base, &format!("/v1/queues/{qc}/tasks"), body).await);
    }
    let leases = post(
        &client,
        &base,
        &format!("/v1/queues/{qp}/leases"),
        json!({"max_tasks": 2}),
    )
    .await;
    let leases = leases["leases"].as_array().expect("leases").clone();
    // The first acked with a result, while there is room; then Redis is full; then the second,
    // without one (an ack without a result runs while Redis is full).
    let ack = |lease: &Value, result: Value| {
        let id = lease["task"]["id"].as_str().expect("id").to_owned();
        let body = json!({"lease_id": lease["lease_id"], "result": result});
        (format!("/v1/queues/{qp}/tasks/{id}/ack"), body)
    };
    let (path, body) = ack(&leases[0], json!({"big": "x".repeat(100)}));
    post(&client, &base, &path, body).await;
    let used = redis.memory("used_memory").await;
    redis.config_set("maxmemory", &used.to_string()).await;
    let (path, mut body) = ack(&leases[1], json!(null));
    body.as_object_mut().expect("body").remove("result");
    post(&client, &base, &path, body).await;
    for (n, child) in children.iter().enumerate() {
        let id = child["id"].as_str().expect("id");
        let path = format!("{base}/v1/queues/{qc}/tasks/{id}");
        let task = eventually("the child released while Redis is full", || async {
            let task: Value = client.get(&path).send().await.ok()?.json().await.ok()?;
            (task["state"] == "ready").then_some(task)
        })
        .await;
        let parent = &task["dependencies"][0];
        assert_eq!(parent["state"], "completed", "{task}");
        assert_eq!(
            parent.get("result"),
            None,
            "child {n}: no result copied: {task}"
        );
    }
    let first = children
        .iter()
        .find(|c| {
            let parent_id = &c["dependencies"][0]["id"];
            *parent_id == leases[0]["task"]["id"]
        })
        .expect("the child of the first");
    let id = first["id"].as_str().expect("id");
    let read: Value = client
        .get(format!("{base}/v1/queues/{qc}/tasks/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(read["dependencies"][0]["result_omitted"], true, "{read}");
    redis.config_set("maxmemory", "0").await;
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

/// A failure goes down a chain of dependents at once, each ending its own children as it ends:
/// with the sweep turned off, a chain of four ends whole.
#[tokio::test]
async fn a_failure_goes_down_a_chain_without_the_sweep() {
    let app = TestApp::start_with(RedisServer::shared(), &["--reaper-interval-ms=0"]).await;
    let q = queue("chain");
    let mut chain = vec![app.submit(&q, json!({"payload": 0})).await];
    for n in 1..5 {
        let parent = &chain[n - 1];
        let body = json!({"payload": n, "depends_on": [{"queue": q, "id": parent["id"]}]});
        chain.push(app.submit(&q, body).await);
    }
    let lease = app.lease_one(&q).await;
    let fail = json!({"error": "broken", "retry": false});
    assert_eq!(
        app.worker_call(&lease, "fail", fail).await.status,
        StatusCode::OK
    );
    let last = chain[4]["id"].as_str().expect("id");
    let ended = app.task_when(&q, last, |t| t["state"] == "dead").await;
    let message = ended["errors"][0]["message"].as_str().expect("message");
    assert!(
        message.contains(chain[3]["id"].as_str().expect("id")),
        "{message}"
    );
}

/// A parent redriven while its outcome (`dead`) still waits to go out: the stale outcome is
/// dropped, not delivered, so its child (`run`) waits for the parent's next end and runs
/// after it has completed. The instance that failed it pauses before delivering, and the
/// redrive comes in that pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_redriven_before_its_outcome_went_out_is_waited_for_again() {
    let redis = RedisServer::shared();
    let url = redis.url();
    let prefix = format!("redrive{}", std::process::id());
    let env = [
        ("TASKGATE_REDIS_URL", url.as_str()),
        ("TASKGATE_KEY_PREFIX", prefix.as_str()),
        ("TASKGATE_TEST_DELIVERY_PAUSE_MS", "1000"),
        ("TASKGATE_REAPER_INTERVAL_MS", "0"),
    ];
    let mut server = Server::spawn(&env, &[]);
    server.wait_up();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let q = queue("redrive-early");
    let parent = post(
        &client,
        &base,
        &format!("/v1/queues/{q}/tasks"),
        json!({"payload": 0}),
    )
    .await;
    let body = json!({"payload": 1, "on_dependency_failure": "run",
                      "depends_on": [{"queue": q, "id": parent["id"]}]});
    let child = post(&client, &base, &format!("/v1/queues/{q}/tasks"), body).await;
    let leases = post(&client, &base, &format!("/v1/queues/{q}/leases"), json!({})).await;
    let lease = &leases["leases"][0];
    let id = parent["id"].as_str().expect("id");
    let fail = json!({"lease_id": lease["lease_id"], "error": "no", "retry": false});
    post(
        &client,
        &base,
        &format!("/v1/queues/{q}/tasks/{id}/fail"),
        fail,
    )
    .await;
    let redriven = post(
        &client,
        &base,
        &format!("/v1/queues/{q}/dead:redrive"),
        json!({}),
    )
    .await;
    assert_eq!(redriven["redriven"], 1, "{redriven}");
    // The paused delivery runs (its outbox entry goes) and finds the parent ready again.
    let outbox = format!("{prefix}:{{q:{q}}}:outbox");
    eventually("the stale outcome to be dropped", || async {
        let n: i64 = redis.cmd(&["ZCARD", &outbox]).await;
        (n == 0).then_some(())
    })
    .await;
    let child_id = child["id"].as_str().expect("id");
    let path = format!("{base}/v1/queues/{q}/tasks/{child_id}");
    let read: Value = client
        .get(&path)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(read["state"], "waiting", "{read}");
    let leases = post(&client, &base, &format!("/v1/queues/{q}/leases"), json!({})).await;
    let lease = &leases["leases"][0];
    assert_eq!(
        lease["task"]["id"], parent["id"],
        "only the parent is ready"
    );
    let ack = json!({"lease_id": lease["lease_id"], "result": "second time"});
    post(
        &client,
        &base,
        &format!("/v1/queues/{q}/tasks/{id}/ack"),
        ack,
    )
    .await;
    let released = eventually("the child released", || async {
        let read: Value = client.get(&path).send().await.ok()?.json().await.ok()?;
        (read["state"] == "ready").then_some(read)
    })
    .await;
    assert_eq!(
        released["dependencies"][0]["state"], "completed",
        "{released}"
    );
    assert_eq!(released["dependencies"][0]["result"], "second time");
}
