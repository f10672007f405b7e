//! `explain` where the answer is easy to get wrong: first place in a group or among the
//! ungrouped tasks is not first in the queue, an equal-priority group ahead, a due task not
//! yet made ready, a start deadline that has passed, and records that are quarantined or
//! hand-edited (never a 500).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::explain::{asked, codes, explain, reason};
use crate::harness::{RedisServer, TestApp, eventually, queue};

fn key(app: &TestApp, q: &str, role: &str) -> String {
    format!("{}:{{q:{q}}}:{role}", app.prefix)
}

fn id_of(task: &Value) -> String {
    task["id"].as_str().expect("id").to_owned()
}

/// Under `fair`, the head of a group and the first task without a group each have nobody
/// ahead in their own order, but the turns decide which goes next: neither is runnable now.
#[tokio::test]
async fn under_fair_turns_first_in_its_own_order_is_not_runnable_now() {
    let app = TestApp::start().await;
    let q = queue("explain-fair-first");
    asked(&app, &q).await;
    app.patch_policy(&q, json!({"strategy": "fair"})).await;
    let grouped = app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    let plain = app.submit(&q, json!({"payload": 2})).await;
    for (task, scope) in [(&grouped, "group"), (&plain, "ungrouped")] {
        let explained = explain(&app, &q, task).await;
        let behind = reason(&explained, "behind");
        assert_eq!(
            (behind["ahead"].clone(), behind["scope"].clone()),
            (json!(0), json!(scope))
        );
        assert_eq!(explained["runnable_now"], false, "{explained}");
    }
}

/// Under `priority`, a group's next task of the same priority that came first goes first: the
/// task without a group counts it as a lower bound and is not runnable now, and the next
/// lease indeed takes the grouped task. A group whose next task has a higher priority counts.
#[tokio::test]
async fn under_priority_an_earlier_group_of_equal_priority_goes_first() {
    let app = TestApp::start().await;
    let q = queue("explain-priority-groups");
    asked(&app, &q).await;
    let grouped = app.submit(&q, json!({"payload": 1, "group": "g"})).await;
    let plain = app.submit(&q, json!({"payload": 2})).await;
    let explained = explain(&app, &q, &plain).await;
    assert_eq!(explained["runnable_now"], false, "{explained}");
    assert_eq!(reason(&explained, "behind")["exact"], false);
    assert_eq!(app.lease_one(&q).await["task"]["id"], grouped["id"]);

    app.submit(&q, json!({"payload": 3, "group": "h", "priority": 5}))
        .await;
    let behind = reason(&explain(&app, &q, &plain).await, "behind").clone();
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(1), json!(false))
    );
}

/// A scheduled task whose time has come (no sweep runs here) is explained where it will be
/// once made ready: by its priority, not at the back of the whole queue; and while another
/// due task waits to be made ready, a count is only a lower bound.
#[tokio::test]
async fn a_due_task_is_counted_where_it_will_be_made_ready() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("explain-due");
    asked(&app, &q).await;
    for n in 0..3 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let urgent = app
        .submit(
            &q,
            json!({"payload": "urgent", "priority": 5, "delay_ms": 200}),
        )
        .await;
    let explained = due(&app, &q, &urgent).await;
    let stored = app.stored_meta(&q, &id_of(&urgent)).await.expect("meta");
    assert_eq!(stored["state"], "scheduled", "explain changed nothing");
    let behind = reason(&explained, "behind");
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(0), json!(true))
    );
    assert_eq!(explained["runnable_now"], true, "{explained}");
    assert_eq!(app.lease_one(&q).await["task"]["id"], urgent["id"]);

    let late = app
        .submit(
            &q,
            json!({"payload": "late", "priority": -1, "delay_ms": 200}),
        )
        .await;
    let behind = reason(&due(&app, &q, &late).await, "behind").clone();
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(3), json!(true))
    );
    let other = app
        .submit(
            &q,
            json!({"payload": "other", "priority": 9, "delay_ms": 1}),
        )
        .await;
    due(&app, &q, &other).await;
    let behind = reason(&explain(&app, &q, &late).await, "behind").clone();
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(3), json!(false)),
        "another due task will join the order first"
    );
}

/// Explains `task` until it is due (explained as ready while still stored as scheduled).
async fn due(app: &TestApp, q: &str, task: &Value) -> Value {
    eventually("the delayed task to be due", || async move {
        let explained = explain(app, q, task).await;
        (explained["state"] == "ready").then_some(explained)
    })
    .await
}

/// A ready task whose start deadline has passed (no sweep runs here) says so and is not
/// runnable, and the task behind it does not count it ahead: the next lease ends it dead and
/// hands out the other.
#[tokio::test]
async fn a_passed_start_deadline_is_a_hold() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("explain-start-deadline");
    asked(&app, &q).await;
    let task = app
        .submit(
            &q,
            json!({"payload": 1, "start_within_ms": 200, "priority": 10}),
        )
        .await;
    let next = app.submit(&q, json!({"payload": 2})).await;
    let (app_ref, q_ref, task_ref) = (&app, &q, &task);
    let explained = eventually("the start deadline to pass", || async move {
        let explained = explain(app_ref, q_ref, task_ref).await;
        (codes(&explained).first() == Some(&"start_deadline_passed")).then_some(explained)
    })
    .await;
    assert_eq!(explained["state"], "ready");
    assert_eq!(explained["runnable_now"], false);
    assert_eq!(
        reason(&explained, "start_deadline_passed")["until"],
        task["start_deadline"]
    );
    // The task behind it does not count it ahead: it will be ended, not leased. Only a lower
    // bound while it waits to be ended.
    let behind = reason(&explain(&app, &q, &next).await, "behind").clone();
    assert_eq!(
        (behind["ahead"].clone(), behind["exact"].clone()),
        (json!(0), json!(false))
    );
    assert_eq!(app.lease_one(&q).await["task"]["id"], next["id"]);
    assert_eq!(app.task(&q, &id_of(&task)).await["state"], "dead");
}

/// A task moved to the quarantine (its payload unreadable, its record still valid) is
/// explained as quarantined, like a GET; hand-edited records are explained as far as they can
/// be, or as quarantined, and never fail the call.
#[tokio::test]
async fn quarantined_and_hand_edited_records_never_fail_the_call() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("explain-corrupt");
    let bad = app.submit(&q, json!({"payload": 1})).await;
    let () = redis
        .cmd(&["HSET", &key(&app, &q, "payload"), &id_of(&bad), "{not json"])
        .await;
    assert!(app.lease(&q, json!({})).await.is_empty());
    let path = |task: &Value| format!("/v1/queues/{q}/tasks/{}/explain", id_of(task));
    app.get(&path(&bad)).await.assert_problem(404, "not-found");

    let task = app.submit(&q, json!({"payload": 2})).await;
    let edits = [
        (r#"{"state":"dead","hist":"x","finished_at":1}"#, None),
        (r#"{"state":"lost"}"#, None),
        (
            r#"{"state":"leased","worker":null,"leased_until":4102444800000}"#,
            Some("leased"),
        ),
        (
            r#"{"state":"dead","attempts":-3,"finished_at":-5}"#,
            Some("dead"),
        ),
        (r#"{"state":"ready","group":"","seq":"x"}"#, Some("behind")),
    ];
    for (meta, code) in edits {
        let () = redis
            .cmd(&["HSET", &key(&app, &q, "meta"), &id_of(&task), meta])
            .await;
        let reply = app.get(&path(&task)).await;
        match code {
            None => {
                reply.assert_problem(404, "not-found");
            }
            Some(code) => {
                assert_eq!(reply.status, StatusCode::OK, "{meta}: {}", reply.body);
                assert_eq!(codes(&reply.body)[0], code, "{meta}: {}", reply.body);
                // Not even the one that looks ready: it is in no index a lease reads.
                assert_eq!(reply.body["runnable_now"], false, "{meta}: {}", reply.body);
            }
        }
    }
}
