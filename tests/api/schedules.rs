//! Schedules over the API: written, read, paused and resumed, triggered, patched and deleted,
//! under `If-Match`; refused whole when a field is wrong; their runs submit tasks on the ticks
//! they should and on no other; and missed ticks after an outage are skipped or caught up by
//! one run, as `catch_up` says.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, ms, queue};

fn path(q: &str, name: &str) -> String {
    format!("/v1/queues/{q}/schedules/{name}")
}

async fn put(app: &TestApp, q: &str, name: &str, body: Value) -> crate::reply::Reply {
    app.request(Method::PUT, &path(q, name), Some(&body)).await
}

async fn patch(
    app: &TestApp,
    q: &str,
    name: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> crate::reply::Reply {
    app.request_with(Method::PATCH, &path(q, name), Some(&body), headers)
        .await
}

async fn read(app: &TestApp, q: &str, name: &str) -> Value {
    let reply = app.get(&path(q, name)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn submitted(app: &TestApp, q: &str) -> i64 {
    app.queue_stats(q).await["totals"]["submitted"]
        .as_i64()
        .expect("a count")
}

/// The Redis clock's next whole second, at least `ahead` ms from now: a tick that falls well
/// clear of the sweep's.
async fn second_ahead(ahead: i64) -> i64 {
    let now = RedisServer::shared().now_ms().await;
    (now + ahead) / 1000 * 1000 + 1000
}

#[tokio::test]
async fn a_schedule_is_written_read_listed_and_runs_on_its_ticks() {
    let app = TestApp::start().await;
    let q = queue("sched-runs");
    let start = second_ahead(300).await;
    let created = put(
        &app,
        &q,
        "every-second",
        json!({"every_ms": 1000, "start_at": taskgate::model::rfc3339_ms(start),
               "end_at": taskgate::model::rfc3339_ms(start + 2000),
               "task": {"payload": {"big": 12345678901234567890u64}, "priority": 7, "group": "g1"}}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.headers["etag"],
        format!("\"{}\"", created.body["version"]).as_str(),
        "the version is the ETag"
    );
    let next: Vec<i64> = created.body["next_runs"]
        .as_array()
        .expect("next_runs")
        .iter()
        .map(ms)
        .collect();
    assert_eq!(
        next,
        vec![start, start + 1000, start + 2000],
        "end_at bounds them"
    );
    assert_eq!(created.body["status"], "active");

    // Three ticks, three tasks, each submitted at its tick (by the Redis clock, within the
    // sweep's interval), then the schedule has ended.
    let ended = eventually("the schedule's three runs", || async {
        let s = read(&app, &q, "every-second").await;
        (s["status"] == "ended" && s["runs"]["fired"] == 3).then_some(s)
    })
    .await;
    let runs = ended["last_runs"].as_array().expect("runs");
    let ticks: Vec<i64> = runs.iter().rev().map(|r| ms(&r["at"])).collect();
    assert_eq!(ticks, vec![start, start + 1000, start + 2000], "{ended}");
    for run in runs {
        assert_eq!(run["kind"], "tick");
        let task = app.task(&q, run["task_id"].as_str().expect("id")).await;
        assert_eq!(task["priority"], 7);
        assert_eq!(
            task["schedule"],
            json!({"name": "every-second", "kind": "tick", "at": run["at"]}),
            "the task names the run that made it"
        );
        assert_eq!(task["group"], "g1");
        assert_eq!(task["payload"], json!({"big": 12345678901234567890u64}));
        let late = ms(&task["created_at"]) - ms(&run["at"]);
        assert!((0..1000).contains(&late), "fired {late} ms after its tick");
        assert_eq!(run["state"], task["state"]);
    }
    assert_eq!(submitted(&app, &q).await, 3);
    assert_eq!(
        app.queue_stats(&q).await["schedules"],
        1,
        "counted in the queue's view"
    );
    assert_eq!(ended["runs"]["missed"], 0);
    assert_eq!(ended["next_runs"], json!([]));

    let page = app.get(&format!("/v1/queues/{q}/schedules?limit=1")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["schedules"][0]["name"], "every-second");
    assert_eq!(page.body["schedules"][0]["runs"]["fired"], 3);
    assert_eq!(page.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn pause_resume_trigger_patch_and_delete_do_what_they_say() {
    let app = TestApp::start().await;
    let q = queue("sched-ops");
    let body = json!({"every_ms": 1000, "paused": true, "task": {"payload": "hello"}});
    let created = put(&app, &q, "s", body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let first_tag = created.headers["etag"].to_str().expect("etag").to_owned();
    let paused = read(&app, &q, "s").await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["next_runs"], json!([]));
    // Not due while paused: no entry in the due set, so no sweep can fire it.
    let due_key = format!("{}:{{q:{q}}}:sdue", app.prefix);
    let due: i64 = RedisServer::shared().cmd(&["ZCARD", &due_key]).await;
    assert_eq!(due, 0);

    // A trigger runs it once now, paused or not.
    let triggered = app
        .request(Method::POST, &format!("{}:trigger", path(&q, "s")), None)
        .await;
    assert_eq!(triggered.status, StatusCode::CREATED, "{}", triggered.body);
    assert_eq!(triggered.body["payload"], "hello");
    assert_eq!(triggered.body["schedule"]["kind"], "trigger");
    assert_eq!(triggered.body["schedule"]["name"], "s");
    let id = triggered.body["id"].as_str().expect("id");
    assert_eq!(
        app.task(&q, id).await["schedule"],
        triggered.body["schedule"],
        "stored with the task"
    );
    let lease = app.lease_one(&q).await;
    assert_eq!(lease["task"]["id"], triggered.body["id"]);
    assert_eq!(
        lease["task"]["schedule"], triggered.body["schedule"],
        "and in its lease"
    );
    let at = ms(&triggered.body["schedule"]["at"]);
    assert!(
        ms(&triggered.body["created_at"]) - at < 1000,
        "at: when it was triggered"
    );
    let s = read(&app, &q, "s").await;
    assert_eq!(s["runs"]["triggered"], 1);
    assert_eq!(s["last_runs"][0]["kind"], "trigger");
    assert_eq!(s["last_runs"][0]["task_id"], triggered.body["id"]);
    assert_eq!(submitted(&app, &q).await, 1);

    // Resumed, it runs on its ticks.
    let resumed = patch(
        &app,
        &q,
        "s",
        json!({"paused": false}),
        &[("If-Match", &first_tag)],
    )
    .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let second_tag = resumed.headers["etag"].to_str().expect("etag").to_owned();
    assert_ne!(second_tag, first_tag, "a write moves the version on");
    eventually("a tick after the resume", || async {
        (read(&app, &q, "s").await["runs"]["fired"].as_u64() >= Some(1)).then_some(())
    })
    .await;

    // A stale If-Match changes nothing.
    let stale = patch(
        &app,
        &q,
        "s",
        json!({"paused": true}),
        &[("If-Match", &first_tag)],
    )
    .await;
    stale.assert_problem(412, "precondition-failed");
    assert_eq!(stale.headers["etag"], second_tag.as_str());
    let exists = app
        .request_with(
            Method::PUT,
            &path(&q, "s"),
            Some(&json!({"every_ms": 5000, "task": {"payload": 1}})),
            &[("If-None-Match", "*")],
        )
        .await;
    exists.assert_problem(412, "precondition-failed");
    assert_eq!(read(&app, &q, "s").await["every_ms"], 1000);

    // A PATCH from every_ms to cron: the next runs follow the expression.
    let yearly = patch(
        &app,
        &q,
        "s",
        json!({"every_ms": null, "cron": "0 0 1 1 *", "timezone": "America/New_York"}),
        &[],
    )
    .await;
    assert_eq!(yearly.status, StatusCode::OK, "{}", yearly.body);
    assert_eq!(yearly.body["task"]["payload"], "hello", "the rest stays");
    let next = yearly.body["next_runs"].as_array().expect("runs");
    assert_eq!(next.len(), 5);
    for run in next {
        // Midnight in New York on January 1st is 05:00 UTC.
        assert!(
            run.as_str()
                .expect("time")
                .ends_with("-01-01T05:00:00.000Z"),
            "{run}"
        );
    }

    // Deleted: no task after it, and it is gone.
    let every = json!({"every_ms": 1000, "task": {"payload": "again"}});
    let replaced = put(&app, &q, "s", every).await;
    assert_eq!(replaced.status, StatusCode::OK);
    let fired = replaced.body["runs"]["fired"].as_u64().expect("count");
    eventually("a run of the replaced schedule", || async {
        (read(&app, &q, "s").await["runs"]["fired"].as_u64() > Some(fired)).then_some(())
    })
    .await;
    assert_eq!(
        app.delete(&path(&q, "s")).await.status,
        StatusCode::NO_CONTENT
    );
    let count = submitted(&app, &q).await;
    // Three ticks' worth of sweeps (every 100 ms in tests) find nothing to fire.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(submitted(&app, &q).await, count, "a task after the delete");
    app.get(&path(&q, "s"))
        .await
        .assert_problem(404, "not-found");
    app.delete(&path(&q, "s"))
        .await
        .assert_problem(404, "not-found");
    for role in ["schedules", "snames", "sdue", "sruns"] {
        let key = format!("{}:{{q:{q}}}:{role}", app.prefix);
        let left: i64 = RedisServer::shared().cmd(&["EXISTS", &key]).await;
        assert_eq!(left, 0, "{key} outlived its last schedule");
    }
}

#[tokio::test]
async fn a_bad_schedule_is_refused_whole_naming_each_field() {
    let app = TestApp::start().await;
    let q = queue("sched-bad");
    let both = put(
        &app,
        &q,
        "x",
        json!({"cron": "61 * * * *", "every_ms": 500, "timezone": "Mars/Olympus", "task": {}}),
    )
    .await;
    let problem = both.assert_problem(422, "validation");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for field in ["cron", "every_ms", "timezone", "task.payload"] {
        assert!(fields.contains(&field), "{field} in {problem}");
    }
    let neither = put(&app, &q, "x", json!({"task": {"payload": 1}})).await;
    let problem = neither.assert_problem(422, "validation");
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(2),
        "{problem}"
    );
    let two = put(
        &app,
        &q,
        "x",
        json!({"cron": "* * * * *", "every_ms": 1000, "task": {"payload": 1}}),
    )
    .await;
    let problem = two.assert_problem(422, "validation");
    assert!(problem.to_string().contains("not both"), "{problem}");
    let zone_alone = put(
        &app,
        &q,
        "x",
        json!({"every_ms": 1000, "timezone": "UTC", "task": {"payload": 1}}),
    )
    .await;
    zone_alone.assert_problem(422, "validation");
    let never = put(
        &app,
        &q,
        "x",
        json!({"cron": "0 0 30 2 *", "task": {"payload": 1}}),
    )
    .await;
    never.assert_problem(422, "validation");
    let bad_name = put(
        &app,
        &q,
        "a:b",
        json!({"every_ms": 1000, "task": {"payload": 1}}),
    )
    .await;
    bad_name.assert_problem(422, "validation");
    app.get(&path(&q, "x"))
        .await
        .assert_problem(404, "not-found");
    // A patch is checked as a PUT body once merged.
    assert_eq!(
        put(
            &app,
            &q,
            "ok",
            json!({"every_ms": 1000, "paused": true, "task": {"payload": 1}})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let merged = patch(&app, &q, "ok", json!({"cron": "* * * * *"}), &[]).await;
    let problem = merged.assert_problem(422, "validation");
    assert!(problem.to_string().contains("not both"), "{problem}");
    let unchanged = read(&app, &q, "ok").await;
    assert_eq!(unchanged["every_ms"], 1000, "nothing changed");
    assert_eq!(unchanged.get("cron"), None, "nothing changed");
}

/// Daylight saving, as the README says: in Europe/Berlin `30 2 * * *` runs at 03:30 on the
/// spring-forward day (02:30 does not exist) and once, at the first 02:30, on the fall-back day.
#[tokio::test]
async fn next_runs_follow_daylight_saving_in_the_schedule_zone() {
    let app = TestApp::start().await;
    let q = queue("sched-dst");
    let spring = put(
        &app,
        &q,
        "spring",
        json!({"cron": "30 2 * * *", "timezone": "Europe/Berlin",
               "start_at": "2027-03-27T12:00:00Z", "task": {"payload": 1}}),
    )
    .await;
    assert_eq!(
        spring.body["next_runs"],
        json!([
            "2027-03-28T01:30:00.000Z",
            "2027-03-29T00:30:00.000Z",
            "2027-03-30T00:30:00.000Z",
            "2027-03-31T00:30:00.000Z",
            "2027-04-01T00:30:00.000Z"
        ]),
        "03:30 CEST on the 28th, then 02:30 CEST"
    );
    let fall = put(
        &app,
        &q,
        "fall",
        json!({"cron": "30 2 * * *", "timezone": "Europe/Berlin",
               "start_at": "2027-10-30T12:00:00Z", "task": {"payload": 1}}),
    )
    .await;
    assert_eq!(
        fall.body["next_runs"]
            .as_array()
            .map(|runs| runs[..2].to_vec()),
        Some(vec![
            json!("2027-10-31T00:30:00.000Z"),
            json!("2027-11-01T01:30:00.000Z")
        ]),
        "the first 02:30 (CEST) only, then 02:30 CET"
    );
}
