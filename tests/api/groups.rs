//! Distribution strategies over task groups (SPEC §8): `fair` turns among groups, in proportion
//! to their weights, against `priority` on the same data; and a group's own limits as a REST
//! resource (pause one tenant, change its weight, `If-Match`).

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use crate::grouping::{group_of, patch_group, submit_group, tally};
use crate::harness::{TestApp, eventually, queue};

/// The small groups of the fairness test, and the tasks each submits.
const SMALL_GROUPS: usize = 10;
const SMALL_TASKS: usize = 10;

/// Group A submits 10,000 tasks, then ten groups submit 10 each; 4 workers lease one task at a
/// time, exactly `leases` leases in all. Returns the group of each lease, in no set order.
async fn lease_after_a_burst(strategy: &str, leases: usize) -> Vec<String> {
    let app = Arc::new(TestApp::start().await);
    let q = queue(&format!("fair-{strategy}"));
    app.patch_policy(&q, json!({ "strategy": strategy })).await;
    submit_group(&app, &q, Some("a"), 10_000).await;
    for n in 0..SMALL_GROUPS {
        submit_group(&app, &q, Some(&format!("small-{n}")), SMALL_TASKS).await;
    }
    // Exactly `leases` lease calls, whoever makes them: each takes a permit first.
    let permits = Arc::new(Semaphore::new(leases));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (app, q, permits, seen) = (app.clone(), q.clone(), permits.clone(), seen.clone());
            tokio::spawn(async move {
                while let Ok(permit) = permits.try_acquire() {
                    permit.forget();
                    let lease = app.lease_one(&q).await;
                    seen.lock().await.push(group_of(&lease));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let seen = seen.lock().await.clone();
    assert_eq!(seen.len(), leases);
    seen
}

/// Under `fair`, the eleven groups (all ready before the first lease) take turns, one task
/// each per round: the ten small groups' 100 tasks take 10 rounds of 11 leases, so all of them
/// are among the first 110 leases, and A has its one in eleven (10) too. Under `priority` the
/// same data is FIFO: A's 10,000 earlier tasks come first and no small group gets a lease.
#[tokio::test]
async fn fair_turns_lease_small_groups_at_once_where_priority_makes_them_wait() {
    let rounds = SMALL_TASKS;
    let bound = rounds * (SMALL_GROUPS + 1);
    assert_eq!(bound, 110);

    let fair = tally(&lease_after_a_burst("fair", bound).await);
    for n in 0..SMALL_GROUPS {
        assert_eq!(
            fair.get(&format!("small-{n}")),
            Some(&SMALL_TASKS),
            "{fair:?}"
        );
    }
    assert_eq!(fair.get("a"), Some(&rounds), "A keeps its share: {fair:?}");

    let priority = tally(&lease_after_a_burst("priority", bound).await);
    assert_eq!(priority.get("a"), Some(&bound), "{priority:?}");
}

/// Two groups with weights 3 and 1 (a group override) share 400 leases 3:1, within 10%.
#[tokio::test]
async fn group_weights_set_the_shares_of_the_turns() {
    let app = TestApp::start().await;
    let q = queue("weights");
    app.patch_policy(&q, json!({"strategy": "fair"})).await;
    submit_group(&app, &q, Some("heavy"), 400).await;
    submit_group(&app, &q, Some("light"), 400).await;
    let view = patch_group(&app, &q, "heavy", json!({"weight": 3})).await;
    assert_eq!(view["limits"]["weight"], 3);
    assert_eq!(view["overrides"], json!(["weight"]));

    let mut heavy = 0;
    for _ in 0..400 {
        let lease = app.lease_one(&q).await;
        heavy += usize::from(group_of(&lease) == "heavy");
    }
    assert!(
        (270..=330).contains(&heavy),
        "heavy got {heavy} of 400, want 300 ± 10%"
    );
}

/// Pausing one group holds only that group (the others and the tasks without a group go on,
/// and the paused group shows as held by its pause, in the queue's stats and in the
/// `taskgate_queue_groups` gauge too); resuming it lets it lease again.
#[tokio::test]
async fn pausing_a_group_holds_only_that_group() {
    let app = TestApp::start().await;
    let q = queue("group-pause");
    submit_group(&app, &q, Some("paused"), 5).await;
    submit_group(&app, &q, Some("busy"), 5).await;
    submit_group(&app, &q, None, 5).await;
    let view = patch_group(&app, &q, "paused", json!({"paused": true})).await;
    assert_eq!(view["state"], "held", "{view}");
    assert_eq!(view["held_by"], "paused", "{view}");

    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["groups"], json!({"ready": 2, "held": 1}), "{stats}");
    let held = format!("taskgate_queue_groups{{queue=\"{q}\",state=\"held\"}} 1");
    eventually("the held group in /metrics", || async {
        let text = app
            .client
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .ok()?;
        text.text().await.ok()?.contains(&held).then_some(())
    })
    .await;

    let leases = app.lease(&q, json!({"max_tasks": 100})).await;
    let counts = tally(&leases.iter().map(group_of).collect::<Vec<_>>());
    assert_eq!(counts.get("paused"), None, "{counts:?}");
    assert_eq!(counts.get("busy"), Some(&5), "{counts:?}");
    assert_eq!(counts.get(""), Some(&5), "{counts:?}");

    let view = patch_group(&app, &q, "paused", json!({"paused": null})).await;
    assert_eq!(view["state"], "turns", "{view}");
    let leases = app.lease(&q, json!({"max_tasks": 100})).await;
    assert_eq!(leases.len(), 5);
    assert!(leases.iter().all(|l| group_of(l) == "paused"));
}

/// A group's limits are versioned like the queue policy: a write with a stale `If-Match` is 412
/// with the current `ETag` and changes nothing; a reset leaves the group nothing of its own.
#[tokio::test]
async fn a_stale_if_match_changes_no_group_limit() {
    let app = TestApp::start().await;
    let q = queue("group-etag");
    let path = format!("/v1/queues/{q}/groups/tenant-1");
    let first = patch_group(&app, &q, "tenant-1", json!({"weight": 2})).await;
    let version = first["version"].as_u64().expect("version");
    assert!(version > 0);

    let stale = app
        .request_with(
            Method::PATCH,
            &path,
            Some(&json!({"weight": 9})),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "precondition-failed");
    let now = app.get(&path).await;
    assert_eq!(now.body["limits"]["weight"], 2, "{}", now.body);
    assert_eq!(now.body["version"].as_u64(), Some(version));
    assert_eq!(
        now.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(format!("\"{version}\"").as_str())
    );

    let tag = format!("\"{version}\"");
    let fresh = app
        .request_with(
            Method::PATCH,
            &path,
            Some(&json!({"weight": 9})),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert!(fresh.body["version"].as_u64() > Some(version));

    let reset = app.delete(&path).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["version"], 0);
    assert_eq!(reset.body["overrides"], json!([]));
    assert_eq!(reset.body["limits"]["weight"], 1);
}

/// Bad group names and bad limits are 422s naming the field, and change nothing.
#[tokio::test]
async fn bad_groups_and_limits_are_named() {
    let app = TestApp::start().await;
    let q = queue("group-bad");
    let reply = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": 1, "group": "has space"}),
        )
        .await;
    reply.assert_problem(422, "validation");
    assert_eq!(reply.body["errors"][0]["field"], "group", "{}", reply.body);
    let reply = app
        .request(
            Method::PATCH,
            &format!("/v1/queues/{q}/groups/ok"),
            Some(&json!({"weight": 0, "max_in_flight": "x"})),
        )
        .await;
    reply.assert_problem(422, "validation");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["weight", "max_in_flight"], "{}", reply.body);
    let listed = app.get(&format!("/v1/queues/{q}/groups")).await;
    assert_eq!(listed.body["groups"], json!([]), "{}", listed.body);
    let bad_path = app.get(&format!("/v1/queues/{q}/groups/a%20b")).await;
    bad_path.assert_problem(422, "validation");
}

/// The listing pages through the groups with live tasks or overrides, by name, and a group
/// whose tasks are all done and that has no override is no longer listed.
#[tokio::test]
async fn groups_are_listed_while_they_have_tasks_or_overrides() {
    let app = TestApp::start().await;
    let q = queue("group-list");
    for g in ["b", "a", "c"] {
        submit_group(&app, &q, Some(g), 1).await;
    }
    patch_group(&app, &q, "d", json!({"paused": true})).await;
    let page = app
        .get(&format!("/v1/queues/{q}/groups?limit=2"))
        .await
        .body;
    let names = |page: &Value| -> Vec<String> {
        page["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["group"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&page), ["a", "b"]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let next = app
        .get(&format!("/v1/queues/{q}/groups?limit=2&cursor={cursor}"))
        .await
        .body;
    assert_eq!(names(&next), ["c", "d"]);
    assert_eq!(next["next_cursor"], Value::Null);

    for _ in 0..3 {
        let lease = app.lease_one(&q).await;
        let acked = app.worker_call(&lease, "ack", json!({})).await;
        assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    }
    let after = app.get(&format!("/v1/queues/{q}/groups")).await.body;
    assert_eq!(names(&after), ["d"], "{after}");
    let a = app.get(&format!("/v1/queues/{q}/groups/a")).await.body;
    assert_eq!(a["state"], "idle");
    assert_eq!(
        a["counts"],
        json!({"ready": 0, "scheduled": 0, "leased": 0})
    );
}
