//! Bounded work per script (SPEC §3.14): no script holds Redis for more than a few
//! milliseconds, whatever the data. Measured by Redis itself with `SLOWLOG`, on data built to
//! be heavy: a thousand expiring leases whose tasks carry full error histories, and tasks with
//! 1 MiB payloads purged together.

use std::sync::Arc;

use deadpool_redis::redis::Value;
use reqwest::StatusCode;
use serde_json::{Value as Json, json};

use taskgate::store::sweep::{Reaper, TickReport};

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// How long nine in ten sweep scripts may run, in microseconds. The scripts' own bounds keep
/// each at a few milliseconds here; the rest is room for the scheduler and for Redis's own Lua
/// garbage collector, which pauses a script now and then whatever it does (SLOWLOG measures
/// wall time, and the whole suite shares two cores). Without the bounds one script would do the
/// whole sweep, taking 20-50 ms or more, which the count of scripts below also catches.
const SCRIPT_BUDGET_US: i64 = 10_000;
/// Items one sweep script handles at most (`SWEEP_ITEMS_MAX` in `prelude/limits.lua`).
const SWEEP_ITEMS_MAX: i64 = 80;

/// These tests, and the group bounds test, load both cores while they build their data and
/// then time Redis's scripts by the wall clock (SLOWLOG): one at a time, so that one test's
/// load never lands on another's measured scripts (CI saw the two overlap and both fail).
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// From now on, Redis logs every command with its duration.
pub(crate) async fn watch_commands(redis: &RedisServer) {
    redis.config_set("slowlog-log-slower-than", "0").await;
    redis.config_set("slowlog-max-len", "200000").await;
    let () = redis.cmd(&["SLOWLOG", "RESET"]).await;
}

/// The script calls Redis logged: (microseconds, the function called).
pub(crate) async fn scripts_run(redis: &RedisServer) -> Vec<(i64, String)> {
    let entries: Vec<Value> = redis.cmd(&["SLOWLOG", "GET", "-1"]).await;
    let text = |value: Option<&Value>| match value {
        Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let Some(Value::Int(micros)) = fields.get(2) else {
                return None;
            };
            let Some(Value::Array(args)) = fields.get(3) else {
                return None;
            };
            text(args.first())
                .eq_ignore_ascii_case("fcall")
                .then(|| (*micros, text(args.get(1))))
        })
        .collect()
}

/// Waits until every member of the sorted set `key` has a score (a deadline) in the past by
/// the Redis clock.
async fn all_due(redis: &RedisServer, key: &str, count: i64) {
    // The latest deadline may be further out than `eventually` waits (long leases, so that
    // none expires while a loaded machine is still granting the others): wait for it first.
    let latest: Vec<String> = redis.cmd(&["ZRANGE", key, "-1", "-1", "WITHSCORES"]).await;
    let time: Vec<String> = redis.cmd(&["TIME"]).await;
    let now_ms = time[0].parse::<i64>().expect("secs") * 1000;
    if let Some(deadline) = latest.get(1).and_then(|s| s.parse::<f64>().ok()) {
        let wait = (deadline as i64 - now_ms).clamp(0, 60_000);
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
    eventually(&format!("all of {key} to be due"), || async move {
        let time: Vec<String> = redis.cmd(&["TIME"]).await;
        let now_ms = time[0].parse::<i64>().expect("secs") * 1000
            + time[1].parse::<i64>().expect("micros") / 1000;
        let due: i64 = redis
            .cmd(&["ZCOUNT", key, "-inf", &now_ms.to_string()])
            .await;
        (due == count).then_some(())
    })
    .await;
}

/// Once all `count` members of the queue's `role` set are due, sweeps with the reaper until it
/// finds nothing more to do, asserting that the work was split into bounded scripts and that
/// nine in ten of them stayed within the budget. Returns the work done.
async fn sweep_when_due(
    redis: &RedisServer,
    app: &TestApp,
    q: &str,
    role: &str,
    count: i64,
) -> TickReport {
    all_due(redis, &format!("{}:{{q:{q}}}:{role}", app.prefix), count).await;
    watch_commands(redis).await;
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    let mut reaper = Reaper::new(store.sweep);
    let mut total = TickReport::default();
    loop {
        let tick = reaper.tick().await;
        assert_eq!(tick.queues_failed, 0, "{tick:?}");
        if tick.reclaimed + tick.promoted + tick.purged == 0 {
            break;
        }
        total.reclaimed += tick.reclaimed;
        total.promoted += tick.promoted;
        total.purged += tick.purged;
    }
    let mut took: Vec<i64> = scripts_run(redis)
        .await
        .into_iter()
        .map(|(us, _)| us)
        .collect();
    took.sort_unstable();
    let items = total.reclaimed + total.promoted + total.purged;
    assert!(
        took.len() as i64 >= (items + SWEEP_ITEMS_MAX - 1) / SWEEP_ITEMS_MAX,
        "{items} items in only {} scripts",
        took.len()
    );
    let p90 = took[(took.len() - 1) * 9 / 10];
    assert!(
        p90 <= SCRIPT_BUDGET_US,
        "nine in ten scripts within {SCRIPT_BUDGET_US} µs, but the 90th percentile took {p90} µs: {took:?}"
    );
    total
}

/// Runs `job(app, n)` for every n in `0..count`, eight at a time.
async fn concurrently<F, Fut>(app: &Arc<TestApp>, count: usize, job: F)
where
    F: Fn(Arc<TestApp>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    const WORKERS: usize = 8;
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (app, job) = (app.clone(), job.clone());
            tokio::spawn(async move {
                for n in (worker..count).step_by(WORKERS) {
                    job(app.clone(), n).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}

/// Leases until `count` leases are held (a call hands out at most 1 MiB of task data).
async fn lease_all(app: &TestApp, q: &str, count: usize, body: Json) -> Vec<Json> {
    let mut leases = Vec::new();
    while leases.len() < count {
        let got = app.lease(q, body.clone()).await;
        assert!(
            !got.is_empty(),
            "only {} of {count} tasks leased",
            leases.len()
        );
        leases.extend(got);
    }
    leases
}

/// 1000 leases expire together, each task carrying a full error history (10 failures of
/// 4 KiB): the reaper reclaims them all in many bounded scripts, none over the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaiming_many_leases_with_long_histories_never_blocks_redis() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await);
    let q = queue("heavy-reclaim");
    let producer_q = q.clone();
    concurrently(&app, 1000, move |app, n| {
        let q = producer_q.clone();
        async move {
            app.submit(&q, json!({"payload": n, "max_attempts": 20}))
                .await;
        }
    })
    .await;
    let error = "e".repeat(4096);
    for round in 0..10 {
        let leases = Arc::new(lease_all(&app, &q, 1000, json!({"max_tasks": 100})).await);
        let message = format!("{round} {error}");
        concurrently(&app, 1000, move |app, n| {
            let (leases, message) = (leases.clone(), message.clone());
            async move {
                let body = json!({"error": message, "retry_in_ms": 0});
                let failed = app.worker_call(&leases[n], "fail", body).await;
                assert_eq!(failed.status, StatusCode::OK);
            }
        })
        .await;
    }
    // Long enough that no lease expires before the last is granted, even on a loaded machine
    // (a lease call reclaims expired leases itself, and a task leased twice would leave fewer
    // than 1000 leases to expire), so they all expire together.
    let leased = lease_all(&app, &q, 1000, json!({"max_tasks": 100, "lease_ms": 20000})).await;
    assert_eq!(
        leased[0]["task"]["errors"].as_array().map(Vec::len),
        Some(10)
    );

    let swept = sweep_when_due(&redis, &app, &q, "leased", 1000).await;
    assert_eq!(swept.reclaimed, 1000);
}

/// 2000 delayed tasks fall due together: making them ready takes several bounded scripts, none
/// over the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_many_due_tasks_never_blocks_redis() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let app = Arc::new(TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await);
    let q = queue("many-due");
    let producer_q = q.clone();
    concurrently(&app, 2000, move |app, n| {
        let q = producer_q.clone();
        async move {
            app.submit(&q, json!({"payload": n, "delay_ms": 1000}))
                .await;
        }
    })
    .await;
    let swept = sweep_when_due(&redis, &app, &q, "scheduled", 2000).await;
    assert_eq!(swept.promoted, 2000);
}

/// 2000 small completed tasks reach their retention together: purging them takes several
/// bounded scripts, none over the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_many_small_tasks_never_blocks_redis() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let flags = ["--reaper-interval-ms=0", "--default-completed-ttl-ms=1000"];
    let app = Arc::new(TestApp::start_with(&redis, &flags).await);
    let q = queue("many-purge");
    let worker_q = q.clone();
    concurrently(&app, 2000, move |app, n| {
        let q = worker_q.clone();
        async move {
            app.submit(&q, json!({"payload": n})).await;
            let lease = app.lease_one(&q).await;
            let done = app.worker_call(&lease, "ack", json!({"result": n})).await;
            assert_eq!(done.status, StatusCode::OK);
        }
    })
    .await;
    let swept = sweep_when_due(&redis, &app, &q, "completed", 2000).await;
    assert_eq!(swept.purged, 2000);
}

/// 40 completed tasks with 1 MiB payloads reach their retention together: purging them (40 MiB)
/// takes several bounded scripts, none over the budget, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_many_large_tasks_never_blocks_redis() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let flags = ["--reaper-interval-ms=0", "--default-completed-ttl-ms=1000"];
    let app = TestApp::start_with(&redis, &flags).await;
    let q = queue("heavy-purge");
    let payload = "p".repeat(1_048_576 - 2);
    for _ in 0..40 {
        app.submit(&q, json!({"payload": payload})).await;
    }
    for lease in lease_all(&app, &q, 40, json!({"max_tasks": 10})).await {
        let done = app.worker_call(&lease, "ack", json!({})).await;
        assert_eq!(done.status, StatusCode::OK);
    }
    let swept = sweep_when_due(&redis, &app, &q, "completed", 40).await;
    assert_eq!(swept.purged, 40);
    assert!(
        app.keys(&redis).await.is_empty(),
        "the purge left keys behind"
    );
}

/// The tests' own Redis calls (the `SLOWLOG` reads above, every `RedisServer::cmd`) wait out a
/// Redis that is slow to answer, as one is when the whole suite keeps every core busy, instead
/// of failing a right test at redis-rs's default of 500 ms. Here Redis holds every client for
/// 1.5 s (`CLIENT PAUSE`), answered before the `PING` is sent, so the `PING` surely waits.
#[tokio::test]
async fn the_tests_own_redis_calls_wait_out_a_slow_redis() {
    let redis = RedisServer::start();
    let () = redis.cmd(&["CLIENT", "PAUSE", "1500", "ALL"]).await;
    let started = std::time::Instant::now();
    let pong: String = redis.cmd(&["PING"]).await;
    assert_eq!(pong, "PONG");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "the pause did not hold the PING ({:?}): this proves nothing",
        started.elapsed()
    );
}
