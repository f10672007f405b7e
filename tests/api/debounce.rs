//! Debounced submits: submits with one `debounce` key, while its task still waits, update
//! that one task (the last payload wins) and move its run time, within `max_delay_ms` of the
//! first; once it is ready the next submit starts a new task; the key is let go with its task;
//! and `debounce` is checked against the fields it cannot go with.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, ms, queue};

/// Submits `n` tasks with debounce `spec`, `every` apart; returns the answers.
async fn burst(app: &TestApp, q: &str, n: usize, every: Duration, spec: Value) -> Vec<Value> {
    let mut answers = Vec::new();
    for i in 0..n {
        let body = json!({"payload": {"n": i}, "debounce": spec});
        let reply = app.post(&format!("/v1/queues/{q}/tasks"), body).await;
        let expected = if i == 0 {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(reply.status, expected, "submit {i}: {}", reply.body);
        answers.push(reply.body);
        tokio::time::sleep(every).await;
    }
    answers
}

/// 50 submits with one key 20 ms apart and `delay_ms` 200: one task, with the last payload,
/// run 200 ms after the last submit (its `run_at`), and leased once it is due, not before.
#[tokio::test]
async fn fifty_submits_with_one_key_make_one_task_with_the_last_payload() {
    let app = TestApp::start().await;
    let q = queue("debounce");
    let spec = json!({"key": "user-42", "delay_ms": 200});
    let answers = burst(&app, &q, 50, Duration::from_millis(20), spec).await;
    let id = &answers[0]["id"];
    assert!(answers.iter().all(|a| &a["id"] == id), "one task");
    assert!(answers[1..].iter().all(|a| a["debounced"] == true));
    assert_eq!(answers[0].get("debounced"), None);
    let last = &answers[49];
    assert_eq!(last["payload"], json!({"n": 49}));
    assert_eq!(last["state"], "scheduled");
    // Its run time is 200 ms after the last submit, by the Redis clock: at most 200 ms after
    // a reading of that clock taken just after the submit answered.
    let now_ms = RedisServer::shared().now_ms().await;
    let (created, run_at) = (ms(&last["created_at"]), ms(&last["run_at"]));
    assert!(
        run_at - now_ms <= 200 && run_at - now_ms > 100,
        "{last} at {now_ms}"
    );
    assert!(run_at - created >= 49 * 20 + 200, "{last}");

    let started = Instant::now();
    let lease = app.lease_when_ready(&q, json!({"max_tasks": 5})).await;
    assert_eq!(&lease["task"]["id"], id);
    assert_eq!(lease["task"]["payload"], json!({"n": 49}));
    let granted = ms(&lease["expires_at"]) - lease["expires_in_ms"].as_i64().expect("ms");
    assert!(granted >= run_at, "leased before it was due: {lease}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let stats = app.queue_stats(&q).await;
    assert_eq!(stats["totals"]["submitted"], 1, "{stats}");
    assert_eq!(stats["totals"]["debounced"], 49, "{stats}");
    let key = format!("{}:{{q:{q}}}:debounce", app.prefix);
    let left: i64 = RedisServer::shared().cmd(&["HLEN", &key]).await;
    assert_eq!(left, 0, "the key is let go once its task is ready");
}

/// With `max_delay_ms` 500, a steady stream of submits does not put the run off: the task runs
/// 500 ms after the first submit, and the submits after that start a new task.
#[tokio::test]
async fn max_delay_bounds_how_long_a_stream_puts_the_run_off() {
    let app = TestApp::start().await;
    let q = queue("debounce-max");
    let spec = json!({"key": "k", "delay_ms": 200, "max_delay_ms": 500});
    let first = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": 0, "debounce": spec}),
        )
        .await
        .body;
    let mut ids = vec![first["id"].clone()];
    let mut last_of_first = first.clone();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        let reply = app
            .post(
                &format!("/v1/queues/{q}/tasks"),
                json!({"payload": 1, "debounce": spec}),
            )
            .await;
        if reply.body["id"] == first["id"] {
            last_of_first = reply.body.clone();
        } else if !ids.contains(&reply.body["id"]) {
            ids.push(reply.body["id"].clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (created, run_at) = (
        ms(&last_of_first["created_at"]),
        ms(&last_of_first["run_at"]),
    );
    assert_eq!(run_at - created, 500, "{last_of_first}");
    assert!(ids.len() >= 2, "the stream went on in a new task: {ids:?}");
    let id = first["id"].as_str().expect("id");
    let ran = app
        .task_when(&q, id, |t| t["state"] == "ready" || t["state"] == "leased")
        .await;
    assert_eq!(ran["payload"], 1);
}

/// A debounced task that is cancelled lets go of its key (the next submit starts a new task), a
/// lost key starts a new task too, and `debounce` is refused with `delay_ms` or with an
/// `Idempotency-Key`, naming the field; nothing is stored.
#[tokio::test]
async fn the_key_is_let_go_with_its_task_and_bad_combinations_are_refused() {
    let app = TestApp::start().await;
    let q = queue("debounce-rules");
    let spec = json!({"key": "k", "delay_ms": 60000});
    let task = app
        .submit(&q, json!({"payload": 1, "debounce": spec}))
        .await;
    let id = task["id"].as_str().expect("id");
    let cancelled = app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let key = format!("{}:{{q:{q}}}:debounce", app.prefix);
    let kept: i64 = RedisServer::shared().cmd(&["HEXISTS", &key, "k"]).await;
    assert_eq!(kept, 0, "the cancelled task let go of its key");
    let next = app
        .submit(&q, json!({"payload": 2, "debounce": spec}))
        .await;
    assert_ne!(next["id"], task["id"]);
    // The key's bookkeeping lost behind the server's back: the next submit starts a new task
    // (a second run, never a lost one), and the waiting one still runs.
    let deleted: i64 = RedisServer::shared().cmd(&["DEL", &key]).await;
    assert_eq!(deleted, 1);
    let after = app
        .submit(&q, json!({"payload": 3, "debounce": spec}))
        .await;
    assert_ne!(after["id"], next["id"]);
    let waiting = app.task(&q, next["id"].as_str().expect("id")).await;
    assert_eq!(waiting["state"], "scheduled");
    assert_eq!(waiting["payload"], 2);

    let other = queue("debounce-refused");
    let path = format!("/v1/queues/{other}/tasks");
    let body = json!({"payload": 1, "delay_ms": 5, "debounce": spec});
    let reply = app.post(&path, body).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.body["errors"][0]["field"], "debounce",
        "{}",
        reply.body
    );
    let body = json!({"payload": 1, "debounce": spec});
    let reply = app
        .request_with(
            reqwest::Method::POST,
            &path,
            Some(&body),
            &[("idempotency-key", "abc")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body["errors"][0]["field"], "debounce");
    let stats = app.get(&format!("/v1/queues/{other}")).await;
    assert_eq!(stats.status, StatusCode::NOT_FOUND, "nothing was stored");
    // In a batch, each item on its own terms: the same key twice updates one task.
    let batch = json!({"tasks": [
        {"payload": "a", "debounce": {"key": "b", "delay_ms": 60000}},
        {"payload": "b", "debounce": {"key": "b", "delay_ms": 60000}},
    ]});
    let reply = app
        .post(&format!("/v1/queues/{q}/tasks:batch"), batch)
        .await;
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(
        (results[0]["status"].clone(), results[1]["status"].clone()),
        (json!(201), json!(200))
    );
    assert_eq!(results[0]["task"]["id"], results[1]["task"]["id"]);
    assert_eq!(results[1]["task"]["payload"], "b");
}

/// A task whose run time has come is not debounced, even before any sweep or call has made it
/// ready (the reaper is off here): the next submit with the key starts a new task, and the
/// first is ready. A replace that changes the requirements moves the task's place among the
/// requirement sets, at the cap too.
#[tokio::test]
async fn a_due_task_is_not_put_off_and_a_replace_moves_its_requirement_set() {
    let redis = RedisServer::start();
    let app = TestApp::start_with(&redis, &["--reaper-interval-ms=0"]).await;
    let q = queue("debounce-due");
    let spec = json!({"key": "k", "delay_ms": 300});
    let first = app
        .submit(&q, json!({"payload": 1, "debounce": spec}))
        .await;
    let run_at = ms(&first["run_at"]);
    // Wait for the Redis clock to pass the run time, asking Redis nothing about the task.
    eventually("Redis's clock to pass the run time", || async {
        (redis.now_ms().await > run_at).then_some(())
    })
    .await;
    let second = app
        .submit(&q, json!({"payload": 2, "debounce": spec}))
        .await;
    assert_ne!(second["id"], first["id"], "a due task was put off again");
    let first_now = app.task(&q, first["id"].as_str().expect("id")).await;
    assert_eq!(first_now["state"], "ready");

    // Requirements replaced: the set the task leaves is let go, the one it takes is counted,
    // and at the cap a swap is still allowed.
    let rq = queue("debounce-requires");
    for n in 0..63 {
        app.submit(
            &rq,
            json!({"payload": n, "requires": {"m": format!("m{n}")}}),
        )
        .await;
    }
    let spec = json!({"key": "r", "delay_ms": 60000});
    app.submit(
        &rq,
        json!({"payload": "a", "requires": {"gpu": "a100"}, "debounce": spec}),
    )
    .await;
    let swapped = app
        .post(
            &format!("/v1/queues/{rq}/tasks"),
            json!({"payload": "b", "requires": {"tpu": "v4"}, "debounce": spec}),
        )
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.body);
    assert_eq!(swapped.body["requires"], json!({"tpu": "v4"}));
    let rsets = format!("{}:{{q:{rq}}}:rsets", app.prefix);
    let gpu: Option<String> = redis.cmd(&["HGET", &rsets, "gpu=a100"]).await;
    let tpu: Option<String> = redis.cmd(&["HGET", &rsets, "tpu=v4"]).await;
    assert_eq!((gpu, tpu.as_deref()), (None, Some("1")));
}
