//! A schedule's ticks across instances and outages: three `taskgate` processes fire one
//! schedule, one of them killed with SIGKILL mid-way, and every tick gives exactly one task;
//! with every instance stopped for five ticks, `skip` runs none of the missed ticks and
//! `latest` runs exactly one; and a write between a tick and its sweep loses no tick.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, ms, queue};
use crate::process::Server;
use taskgate::model::rfc3339_ms;

/// Every task of `q` in `state`, all pages.
async fn tasks(client: &reqwest::Client, base: &str, q: &str, state: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/v1/queues/{q}/tasks?state={state}&limit=100{cursor}");
        let page: Value = client
            .get(url)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        all.extend(page["tasks"].as_array().expect("tasks").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_fire_exactly_one_task_per_tick() {
    let redis = RedisServer::shared();
    let url = redis.url();
    let prefix = format!("ticks{}", std::process::id());
    let env = [
        ("TASKGATE_REDIS_URL", url.as_str()),
        ("TASKGATE_KEY_PREFIX", prefix.as_str()),
    ];
    let mut servers: Vec<Server> = (0..3).map(|_| Server::spawn(&env, &[])).collect();
    for server in &mut servers {
        server.wait_up();
    }
    let client = reqwest::Client::new();
    let q = queue("ticks");
    // Ten ticks, a second apart, from a whole second of the Redis clock on.
    let start = (redis.now_ms().await + 1500) / 1000 * 1000;
    let end = start + 9000;
    let body = json!({"every_ms": 1000, "start_at": rfc3339_ms(start), "end_at": rfc3339_ms(end),
                      "task": {"payload": {"from": "ticks"}}});
    let put = client
        .put(format!("{}/v1/queues/{q}/schedules/ten", servers[0].base))
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);

    // Mid-way (after the fourth tick), one instance dies without a word.
    while redis.now_ms().await < start + 3500 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    servers[1].signal("KILL");
    servers[1].wait_exit(Duration::from_secs(5));

    let base = servers[2].base.clone();
    let schedule = eventually("the schedule's end", || async {
        let s: Value = client
            .get(format!("{base}/v1/queues/{q}/schedules/ten"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (s["status"] == "ended").then_some(s)
    })
    .await;
    assert_eq!(schedule["runs"]["fired"], 10, "{schedule}");
    assert_eq!(schedule["runs"]["missed"], 0, "{schedule}");
    let ready = tasks(&client, &base, &q, "ready").await;
    assert_eq!(ready.len(), 10, "exactly one task per tick");
    // Each task belongs to a tick of its own: submitted within the second after it.
    let ticks: BTreeSet<i64> = ready
        .iter()
        .map(|t| {
            let created = ms(&t["created_at"]);
            let tick = start + (created - start).div_euclid(1000) * 1000;
            assert!((start..=end).contains(&tick), "{t}");
            tick
        })
        .collect();
    assert_eq!(
        ticks.len(),
        10,
        "one task per tick, none missing: {ticks:?}"
    );
    // And ten runs, one per tick, each with a task of its own: a tick decided by two
    // instances is run once (a second run would be listed, with the first run's task).
    let runs = schedule["last_runs"].as_array().expect("runs");
    let at: BTreeSet<i64> = runs.iter().map(|r| ms(&r["at"])).collect();
    let ids: BTreeSet<&str> = runs.iter().filter_map(|r| r["task_id"].as_str()).collect();
    assert_eq!(
        (runs.len(), at.len(), ids.len()),
        (10, 10, 10),
        "{schedule}"
    );
    let expected: BTreeSet<i64> = (0..10).map(|n| start + n * 1000).collect();
    assert_eq!(at, expected);
    eprintln!(
        "3 instances, 1 SIGKILLed after the 4th tick: {} ticks, {} tasks, {} runs, {} missed",
        expected.len(),
        ready.len(),
        runs.len(),
        schedule["runs"]["missed"]
    );
}

/// Every instance stopped for five ticks: a `skip` schedule runs none of them, a `latest` one
/// runs exactly one, for the newest; both then go on with their next tick.
#[tokio::test]
async fn after_five_missed_ticks_skip_runs_none_and_latest_runs_one() {
    let redis = RedisServer::shared();
    let mut app = TestApp::start().await;
    let q = queue("catch-up");
    // Ticks on whole seconds of the Redis clock, so the stop below falls at a known phase.
    let anchor = (redis.now_ms().await / 1000 + 1) * 1000;
    for (name, catch_up) in [("skip", "skip"), ("latest", "latest")] {
        let body = json!({"every_ms": 1000, "catch_up": catch_up, "start_at": rfc3339_ms(anchor),
                          "task": {"payload": name}});
        let path = format!("/v1/queues/{q}/schedules/{name}");
        let reply = app.request(Method::PUT, &path, Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    async fn runs(app: &TestApp, q: &str, name: &str) -> Value {
        let path = format!("/v1/queues/{q}/schedules/{name}");
        app.get(&path).await.body
    }
    eventually("a first run of each", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        (a["runs"]["fired"].as_u64() >= Some(1) && b["runs"]["fired"].as_u64() >= Some(1))
            .then_some(())
    })
    .await;
    // Stop 300 ms after a tick (fired by then: the test sweep runs every 100 ms) and stay down
    // 5.5 s: the ticks at +0.7, +1.7, +2.7, +3.7 and +4.7 s come and go, and the restart (at
    // +5.5 s and a little) comes before the tick at +5.7 s.
    while !(300..400).contains(&(redis.now_ms().await - anchor).rem_euclid(1000)) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = redis.now_ms().await;
    app.restart(Duration::from_millis(5500)).await;
    let restarted = stopped + 5500;
    let (skip, latest) = eventually("the catch-up", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        (a["runs"]["missed"].as_u64() > Some(0) && b["runs"]["missed"].as_u64() > Some(0))
            .then_some((a, b))
    })
    .await;
    // The runs of the outage's ticks: after the stop, up to the restart.
    let in_gap = |s: &Value| -> Vec<i64> {
        s["last_runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| ms(&r["at"]))
            .filter(|at| *at > stopped && *at <= restarted)
            .collect()
    };
    assert_eq!(
        in_gap(&skip),
        Vec::<i64>::new(),
        "skip ran a missed tick: {skip}"
    );
    assert_eq!(skip["runs"]["missed"], 5, "{skip}");
    // Latest ran one: the newest missed tick, 4.7 s after the stop; the four before it missed.
    let newest = stopped - (stopped - anchor).rem_euclid(1000) + 5000;
    assert_eq!(
        in_gap(&latest),
        vec![newest],
        "latest runs exactly one: {latest}"
    );
    assert_eq!(latest["runs"]["missed"], 4, "{latest}");
    eprintln!(
        "down 5.5 s: skip ran {:?} of the outage's ticks, missed {}; latest ran {:?}, missed {}",
        in_gap(&skip),
        skip["runs"]["missed"],
        in_gap(&latest),
        latest["runs"]["missed"]
    );
    // Both go on with their ticks.
    eventually("ticks after the restart", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        let after = |s: &Value| ms(&s["last_runs"][0]["at"]) > restarted;
        (after(&a) && after(&b)).then_some(())
    })
    .await;
}

/// A merge patch of schedule `p` of `q`.
async fn patch_p(
    app: &TestApp,
    q: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> crate::reply::Reply {
    let path = format!("/v1/queues/{q}/schedules/p");
    app.request_with(Method::PATCH, &path, Some(&body), headers)
        .await
}

/// A write that keeps the cadence keeps the schedule's place among its ticks: a tick that came
/// due and has not been fired yet stays due (a write between a tick and its sweep loses no
/// tick), where a new cadence starts from its first tick after the write.
#[tokio::test]
async fn a_write_keeps_a_pending_tick_unless_the_cadence_changes() {
    let redis = RedisServer::shared();
    // No sweep: ticks come due and wait.
    let app = TestApp::start_with(redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("sched-pending");
    let due_key = format!("{}:{{q:{q}}}:sdue", app.prefix);
    let body = json!({"every_ms": 1000, "task": {"payload": 1}});
    let created = app
        .request(
            Method::PUT,
            &format!("/v1/queues/{q}/schedules/p"),
            Some(&body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let old_tag = created.headers["etag"].to_str().expect("etag").to_owned();
    let score = |redis: &'static RedisServer, key: String| async move {
        let score: Option<i64> = redis.cmd(&["ZSCORE", &key, "p"]).await;
        score.expect("due")
    };
    let pending = score(redis, due_key.clone()).await;
    while redis.now_ms().await <= pending + 1500 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changed = patch_p(&app, &q, json!({"task": {"priority": 3}}), &[]).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        score(redis, due_key.clone()).await,
        pending,
        "the pending tick stays due"
    );
    assert_eq!(ms(&changed.body["next_runs"][0]), pending);
    let recut = patch_p(&app, &q, json!({"every_ms": 5000}), &[]).await;
    assert_eq!(recut.status, StatusCode::OK, "{}", recut.body);
    let now = redis.now_ms().await;
    let next = score(redis, due_key.clone()).await;
    assert!(next > now - 100 && next <= now + 5000, "{next} at {now}");

    // Deleted and made again, the schedule has a version no ETag of the old one matches (not
    // even its first: versions never start again from 1).
    assert_eq!(
        app.delete(&format!("/v1/queues/{q}/schedules/p"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let again = json!({"every_ms": 1000, "task": {"payload": 2}});
    assert_eq!(
        app.request(
            Method::PUT,
            &format!("/v1/queues/{q}/schedules/p"),
            Some(&again)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let stale = patch_p(&app, &q, json!({"paused": true}), &[("If-Match", &old_tag)]).await;
    stale.assert_problem(412, "precondition-failed");
}
