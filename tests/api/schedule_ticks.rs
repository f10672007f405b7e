//! A schedule's ticks across instances and outages: three `taskgate` processes fire one
//! schedule, one of them killed with SIGKILL mid-way, and every tick gives exactly one task;
//! with every instance stopped for five ticks, `skip` runs none of the missed ticks and
//! `latest` runs exactly one.

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
}

/// Every instance stopped for five ticks: a `skip` schedule runs none of them, a `latest` one
/// runs exactly one, for the newest; both then go on with their next tick.
#[tokio::test]
async fn after_five_missed_ticks_skip_runs_none_and_latest_runs_one() {
    let redis = RedisServer::shared();
    let mut app = TestApp::start().await;
    let q = queue("catch-up");
    for (name, catch_up) in [("skip", "skip"), ("latest", "latest")] {
        let body = json!({"every_ms": 1000, "catch_up": catch_up, "task": {"payload": name}});
        let reply = app
            .request(
                Method::PUT,
                &format!("/v1/queues/{q}/schedules/{name}"),
                Some(&body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    async fn runs(app: &TestApp, q: &str, name: &str) -> Value {
        app.get(&format!("/v1/queues/{q}/schedules/{name}"))
            .await
            .body
    }
    eventually("a first run of each", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        (a["runs"]["fired"].as_u64() >= Some(1) && b["runs"]["fired"].as_u64() >= Some(1))
            .then_some(())
    })
    .await;
    let stopped = redis.now_ms().await;
    app.restart(Duration::from_millis(5500)).await;
    let restarted = redis.now_ms().await;
    // Caught up: a run after the restart, or a missed count.
    let (skip, latest) = eventually("the catch-up", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        (a["runs"]["missed"].as_u64() > Some(0) && b["runs"]["missed"].as_u64() > Some(0))
            .then_some((a, b))
    })
    .await;
    let in_gap = |s: &Value| -> Vec<i64> {
        s["last_runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| ms(&r["at"]))
            .filter(|at| *at > stopped + 1000 && *at <= restarted)
            .collect()
    };
    assert_eq!(
        in_gap(&skip),
        Vec::<i64>::new(),
        "skip ran a missed tick: {skip}"
    );
    assert_eq!(
        in_gap(&latest).len(),
        1,
        "latest runs exactly one: {latest}"
    );
    assert!(skip["runs"]["missed"].as_u64() >= Some(5), "{skip}");
    assert!(latest["runs"]["missed"].as_u64() >= Some(4), "{latest}");
    // The one caught-up run is the newest missed tick: the one after it is due after the restart.
    let caught = in_gap(&latest)[0];
    assert!(caught + 1000 > restarted - 1000, "{caught} vs {restarted}");
    // Both go on with their ticks.
    eventually("ticks after the restart", || async {
        let (a, b) = (runs(&app, &q, "skip").await, runs(&app, &q, "latest").await);
        let after = |s: &Value| ms(&s["last_runs"][0]["at"]) > restarted;
        (after(&a) && after(&b)).then_some(())
    })
    .await;
}
