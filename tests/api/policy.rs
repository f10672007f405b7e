//! The dispatch policy as a REST resource, enforced inside the dispatch scripts: a change
//! applies to the very next call on every instance, whatever that instance's own defaults;
//! writes are checked and fenced by `If-Match`; pause, max_in_flight and the rate limit hold
//! across instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp, eventually, queue};

/// A second instance on the same data, with server defaults of its own.
async fn second_instance(app: &TestApp, flags: &[&str]) -> TestApp {
    let prefix = format!("--key-prefix={}", app.prefix);
    let mut all = vec![prefix.as_str()];
    all.extend_from_slice(flags);
    TestApp::start_with(RedisServer::shared(), &all).await
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// A PATCH of lease_ms and max_attempts through one instance changes the very next lease and
/// failure through another instance that has different server defaults.
#[tokio::test]
async fn a_policy_change_applies_at_once_on_another_instance() {
    let first = TestApp::start().await;
    let second = second_instance(
        &first,
        &["--default-lease-ms=45000", "--default-max-attempts=9"],
    )
    .await;
    let q = queue("policy-applies");
    let task = first.submit(&q, json!({"payload": 1})).await;
    assert_eq!(task["max_attempts"], 5, "the first instance's default");

    let view = first
        .patch_policy(&q, json!({"lease_ms": 5000, "max_attempts": 2}))
        .await;
    assert_eq!(view["overrides"], json!(["lease_ms", "max_attempts"]));
    let seen = second.get(&format!("/v1/queues/{q}/policy")).await.body;
    assert_eq!(seen["policy"]["lease_ms"], 5000);
    assert_eq!(seen["policy"]["max_attempts"], 2);
    assert_eq!(seen["overrides"], view["overrides"]);

    let lease = second.lease_one(&q).await;
    assert_eq!(
        lease["expires_in_ms"], 5000,
        "the queue's lease length wins"
    );
    assert_eq!(lease["task"]["max_attempts"], 2);
    let retry = json!({"error": "x", "retry_in_ms": 0});
    let failed = second.worker_call(&lease, "fail", retry.clone()).await;
    assert_eq!(failed.body["state"], "ready", "{}", failed.body);
    let lease = second.lease_one(&q).await;
    let failed = second.worker_call(&lease, "fail", retry).await;
    assert_eq!(
        failed.body["state"], "dead",
        "2 attempts, not 9: {}",
        failed.body
    );
}

/// Every bad value of a policy body is named in one 422, and nothing changes; a rule between
/// fields checked against the stored values is a 422 too.
#[tokio::test]
async fn an_invalid_policy_is_refused_whole_naming_every_field() {
    let app = TestApp::start().await;
    let q = queue("policy-invalid");
    let before = app.patch_policy(&q, json!({"weight": 5})).await;
    let path = format!("/v1/queues/{q}/policy");
    let body = json!({
        "lease_ms": 5, "weight": 0, "paused": "yes", "max_payload_bytes": 1_000_000_000_000u64,
        "backoff": {"jitter": 3, "multiplier": 0.5}, "rate_limit": {"burst": 0},
        "bogus": 1
    });
    let reply = app.request(Method::PATCH, &path, Some(&body)).await;
    let mut named = fields(reply.assert_problem(422, "validation"));
    named.sort();
    assert_eq!(
        named,
        [
            "backoff.jitter",
            "backoff.multiplier",
            "bogus",
            "lease_ms",
            "max_payload_bytes",
            "paused",
            "rate_limit.burst",
            "rate_limit.per_second",
            "weight"
        ]
    );
    let crossed = json!({"backoff": {"initial_ms": 5000, "max_ms": 1000}});
    let reply = app.request(Method::PATCH, &path, Some(&crossed)).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        ["backoff.initial_ms"]
    );
    let lower_max = json!({"backoff": {"max_ms": 100}});
    let reply = app.request(Method::PATCH, &path, Some(&lower_max)).await;
    assert_eq!(
        fields(reply.assert_problem(422, "validation")),
        ["backoff.initial_ms"],
        "the default initial_ms (300 in the tests) would exceed the new max_ms"
    );
    assert_eq!(
        app.get(&path).await.body,
        before,
        "a refused write changed the policy"
    );
}

/// `If-Match` with a version that is no longer current is 412 with the current ETag, and
/// changes nothing; the current one applies.
#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::start().await;
    let q = queue("policy-etag");
    let path = format!("/v1/queues/{q}/policy");
    let fresh = app.get(&path).await;
    assert_eq!(fresh.headers["etag"], "\"0\"");
    assert_eq!(fresh.body["version"], 0);

    let body = json!({"lease_ms": 9000});
    let first = app
        .request_with(Method::PATCH, &path, Some(&body), &[("if-match", "\"0\"")])
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.headers["etag"], "\"1\"");
    let stale = app
        .request_with(
            Method::PUT,
            &path,
            Some(&json!({"lease_ms": 2000})),
            &[("if-match", "\"0\"")],
        )
        .await;
    stale.assert_problem(412, "precondition-failed");
    assert_eq!(stale.headers["etag"], "\"1\"");
    let stale_reset = app
        .request_with(Method::DELETE, &path, None, &[("if-match", "\"0\"")])
        .await;
    stale_reset.assert_problem(412, "precondition-failed");
    let now = app.get(&path).await;
    assert_eq!(now.body["policy"]["lease_ms"], 9000);
    assert_eq!(now.body["version"], 1);

    let put = app
        .request_with(
            Method::PUT,
            &path,
            Some(&json!({"weight": 3})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(
        put.body["overrides"],
        json!(["weight"]),
        "PUT replaces the whole set"
    );
    assert_eq!(put.body["policy"]["lease_ms"], 30000, "back to the default");
    let reset = app.delete(&path).await;
    assert_eq!(reset.body["overrides"], json!([]));
    assert_eq!(reset.body["version"], 3);
}

/// `If-Match` is a list (RFC 9110): it holds when any strong tag is the current version, on
/// one header line or several; a weak tag matches nothing; `*` holds once the queue has a
/// policy of its own.
#[tokio::test]
async fn an_if_match_list_holds_when_any_tag_matches() {
    let app = TestApp::start().await;
    let q = queue("policy-if-match-list");
    let path = format!("/v1/queues/{q}/policy");
    let write = |tags: &'static [&'static str], lease_ms: u64| {
        let (app, path) = (&app, &path);
        async move {
            let mut request = app
                .client
                .patch(format!("{}{path}", app.base))
                .json(&json!({"lease_ms": lease_ms}));
            for tag in tags {
                request = request.header("if-match", *tag);
            }
            crate::harness::Reply::read(request.send().await.expect("http")).await
        }
    };
    let star = write(&["*"], 5000).await;
    star.assert_problem(412, "precondition-failed");
    assert_eq!(star.headers["etag"], "\"0\"", "no policy of its own yet");
    app.patch_policy(&q, json!({"lease_ms": 4000})).await;
    app.patch_policy(&q, json!({"lease_ms": 4500})).await;
    app.patch_policy(&q, json!({"lease_ms": 4800})).await; // version 3

    let listed = write(&["\"999\", \"3\""], 6000).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.headers["etag"], "\"4\"");
    let lines = write(&["\"1\"", "\"2\", \"4\""], 7000).await;
    assert_eq!(lines.status, StatusCode::OK, "{}", lines.body);
    let weak = write(&["W/\"5\""], 8000).await;
    weak.assert_problem(412, "precondition-failed");
    assert_eq!(weak.headers["etag"], "\"5\"");
    let none = write(&["\"1\", \"2\""], 8000).await;
    none.assert_problem(412, "precondition-failed");
    let star = write(&["*"], 9000).await;
    assert_eq!(star.status, StatusCode::OK, "{}", star.body);
    let now = app.get(&path).await.body;
    assert_eq!(now["policy"]["lease_ms"], 9000, "{now}");
    assert_eq!(now["version"], 6, "{now}");
}

/// `If-None-Match: *` on a policy `PUT` creates the queue's policy when it has none, and is
/// `412` (changing nothing) once it has one, so two operators creating one cannot overwrite
/// each other.
#[tokio::test]
async fn if_none_match_star_creates_a_policy_but_never_replaces_one() {
    let app = TestApp::start().await;
    let q = queue("policy-if-none-match");
    let path = format!("/v1/queues/{q}/policy");
    let put = |lease_ms: u64| {
        let (app, path) = (&app, &path);
        async move {
            let body = json!({"lease_ms": lease_ms});
            app.request_with(Method::PUT, path, Some(&body), &[("if-none-match", "*")])
                .await
        }
    };
    let created = put(5000).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["version"], 1);
    let second = put(6000).await;
    let detail = second.assert_problem(412, "precondition-failed")["detail"].clone();
    assert!(
        detail
            .as_str()
            .expect("detail")
            .contains("already has a policy"),
        "{detail}"
    );
    assert_eq!(second.headers["etag"], "\"1\"");
    let now = app.get(&path).await.body;
    assert_eq!(now["policy"]["lease_ms"], 5000, "not replaced: {now}");
    // A tag list: not at any of these versions.
    let excluded = app
        .request_with(
            Method::PATCH,
            &path,
            Some(&json!({"weight": 2})),
            &[("if-none-match", "\"7\", W/\"1\"")],
        )
        .await;
    excluded.assert_problem(412, "precondition-failed");
    let allowed = app
        .request_with(
            Method::PATCH,
            &path,
            Some(&json!({"weight": 2})),
            &[("if-none-match", "\"7\"")],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

/// A rate far out of range gets one message for its field, not also "is required".
#[tokio::test]
async fn an_out_of_range_rate_is_one_clear_problem() {
    let app = TestApp::start().await;
    let path = format!("/v1/queues/{}/policy", queue("policy-huge-rate"));
    let reply = app
        .request(
            Method::PATCH,
            &path,
            Some(&json!({"rate_limit": {"per_second": 1e308}})),
        )
        .await;
    let problem = reply.assert_problem(422, "validation");
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{problem}");
    assert_eq!(errors[0]["field"], "rate_limit.per_second");
    assert!(
        errors[0]["message"]
            .as_str()
            .expect("message")
            .contains("from 0.001"),
        "{problem}"
    );
}

/// A paused queue leases nothing while submits go on; resumed, it leases again.
#[tokio::test]
async fn a_paused_queue_leases_nothing_until_resumed() {
    let app = TestApp::start().await;
    let q = queue("paused");
    app.patch_policy(&q, json!({"paused": true})).await;
    let task = app.submit(&q, json!({"payload": 1})).await;
    let reply = app.post(&format!("/v1/queues/{q}/leases"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["leases"], json!([]));
    app.patch_policy(&q, json!({"paused": false})).await;
    assert_eq!(app.lease_one(&q).await["task"]["id"], task["id"]);
}

/// max_in_flight = 3 with 20 workers racing through two instances: Redis never holds more than
/// 3 leases of the queue at once (sampled in Redis all along), every task is done, and refused
/// calls say when to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_in_flight_is_never_exceeded_across_instances() {
    let first = Arc::new(TestApp::start().await);
    let second = Arc::new(second_instance(&first, &[]).await);
    let q = queue("in-flight");
    first.patch_policy(&q, json!({"max_in_flight": 3})).await;
    for n in 0..60 {
        first.submit(&q, json!({"payload": n})).await;
    }
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let leased_key = format!("{}:{{q:{q}}}:leased", first.prefix);
    let sampler = {
        let (stop, key) = (stop.clone(), leased_key.clone());
        tokio::spawn(async move {
            let redis = RedisServer::shared();
            let (mut most, mut samples) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let held: i64 = redis.cmd(&["ZCARD", &key]).await;
                most = most.max(held);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (most, samples)
        })
    };
    let mut workers = Vec::new();
    for n in 0..20 {
        let app = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (q, done) = (q.clone(), done.clone());
        let deadline = crate::harness::Deadline::after(Duration::from_secs(60));
        workers.push(tokio::spawn(async move {
            let mut told_to_wait = false;
            while done.load(Ordering::Relaxed) < 60 {
                deadline.check("60 tasks done");
                let reply = app.post(&format!("/v1/queues/{q}/leases"), json!({})).await;
                let Some(lease) = reply.body["leases"]
                    .as_array()
                    .and_then(|l| l.first())
                    .cloned()
                else {
                    told_to_wait |= reply.body["retry_after_ms"]
                        .as_u64()
                        .is_some_and(|ms| ms > 0)
                        && reply.headers.contains_key("retry-after");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                tokio::time::sleep(Duration::from_millis(10)).await;
                let acked = app.worker_call(&lease, "ack", json!({})).await;
                assert_eq!(acked.status, StatusCode::OK);
                done.fetch_add(1, Ordering::Relaxed);
            }
            told_to_wait
        }));
    }
    let mut anyone_told_to_wait = false;
    for worker in workers {
        anyone_told_to_wait |= worker.await.expect("worker");
    }
    stop.store(true, Ordering::Relaxed);
    let (most, samples) = sampler.await.expect("sampler");
    assert!(samples > 20, "only {samples} samples");
    assert!(most <= 3, "{most} leases held at once");
    assert_eq!(
        most, 3,
        "the cap was never reached, so the test proved nothing"
    );
    assert!(
        anyone_told_to_wait,
        "no refused call carried retry_after_ms and Retry-After"
    );
    assert_eq!(done.load(Ordering::Relaxed), 60);
}

/// rate_limit {per_second: 10, burst: 10}, hammered for 2 s through two instances: at most
/// burst + rate × elapsed leases are granted (plus one for a token that refills while the last
/// call runs), refused calls say when to retry, and the queue is not starved either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_holds_across_instances() {
    let first = Arc::new(TestApp::start().await);
    let second = Arc::new(second_instance(&first, &[]).await);
    let q = queue("rate");
    first
        .patch_policy(&q, json!({"rate_limit": {"per_second": 10, "burst": 10}}))
        .await;
    for n in 0..200 {
        first.submit(&q, json!({"payload": n})).await;
    }
    let granted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for n in 0..8 {
        let app = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (q, granted) = (q.clone(), granted.clone());
        workers.push(tokio::spawn(async move {
            let mut retry_hints = Vec::new();
            while started.elapsed() < Duration::from_secs(2) {
                let reply = app
                    .post(&format!("/v1/queues/{q}/leases"), json!({"max_tasks": 3}))
                    .await;
                let leases = reply.body["leases"].as_array().map(Vec::len).unwrap_or(0);
                granted.fetch_add(leases, Ordering::Relaxed);
                if leases == 0 {
                    retry_hints.push(reply.body["retry_after_ms"].as_u64().unwrap_or(0));
                    assert_eq!(reply.headers["retry-after"], "1");
                }
            }
            retry_hints
        }));
    }
    let mut hints = Vec::new();
    for worker in workers {
        hints.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let granted = granted.load(Ordering::Relaxed) as f64;
    let bound = 10.0 + 10.0 * elapsed + 1.0;
    assert!(
        granted <= bound,
        "{granted} leases in {elapsed:.2} s; the bound is {bound:.1}"
    );
    assert!(
        granted >= 20.0,
        "only {granted} leases in {elapsed:.2} s: the limit starves"
    );
    assert!(
        !hints.is_empty() && hints.iter().all(|ms| (1..=100).contains(ms)),
        "{hints:?}"
    );
}

/// Completed tasks disappear after the queue's completed_ttl_ms.
#[tokio::test]
async fn completed_tasks_go_after_the_queues_retention() {
    let app = TestApp::start().await;
    let q = queue("policy-ttl");
    app.patch_policy(&q, json!({"completed_ttl_ms": 1000}))
        .await;
    app.submit(&q, json!({"payload": 1})).await;
    let lease = app.lease_one(&q).await;
    app.worker_call(&lease, "ack", json!({})).await;
    let path = format!(
        "/v1/queues/{q}/tasks/{}",
        lease["task"]["id"].as_str().expect("id")
    );
    let (app, path) = (&app, &path);
    eventually("the completed task to be purged", || async move {
        (app.get(path).await.status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
}

/// The queue's max_payload_bytes caps payloads and results with 413 naming the queue's cap.
#[tokio::test]
async fn the_queues_payload_cap_is_a_413_naming_it() {
    let app = TestApp::start().await;
    let q = queue("policy-cap");
    app.patch_policy(&q, json!({"max_payload_bytes": 100}))
        .await;
    let over = app
        .post(
            &format!("/v1/queues/{q}/tasks"),
            json!({"payload": "x".repeat(99)}),
        )
        .await;
    let detail = over.assert_problem(413, "payload-too-large")["detail"].clone();
    assert!(
        detail.as_str().unwrap_or("").contains("at most 100"),
        "{detail}"
    );
    app.submit(&q, json!({"payload": "x".repeat(98)})).await;
    let lease = app.lease_one(&q).await;
    app.worker_call(&lease, "ack", json!({"result": "y".repeat(99)}))
        .await
        .assert_problem(413, "payload-too-large");
    let acked = app.worker_call(&lease, "ack", json!({"result": "y"})).await;
    assert_eq!(acked.status, StatusCode::OK);
}

/// Weighted leasing over two full queues with weights 3 and 1 leases about three times as much
/// from the first; strict leasing drains the first queue first; a paused queue is skipped.
#[tokio::test]
async fn multi_queue_leasing_by_weight_and_in_order() {
    let app = TestApp::start().await;
    let (heavy, light) = (queue("heavy"), queue("light"));
    app.patch_policy(&heavy, json!({"weight": 3})).await;
    for n in 0..400 {
        app.submit(&heavy, json!({"payload": n})).await;
        app.submit(&light, json!({"payload": n})).await;
    }
    let mut from_heavy = 0;
    for _ in 0..400 {
        let reply = app
            .post(
                "/v1/leases",
                json!({"queues": [heavy, light], "strategy": "weighted"}),
            )
            .await;
        let lease = &reply.body["leases"][0];
        if lease["task"]["queue"] == json!(heavy) {
            from_heavy += 1;
        }
    }
    let ratio = from_heavy as f64 / (400 - from_heavy) as f64;
    assert!(
        (2.4..=3.6).contains(&ratio),
        "{from_heavy} of 400: ratio {ratio:.2}"
    );

    let (first, second) = (queue("strict-a"), queue("strict-b"));
    for n in 0..3 {
        app.submit(&first, json!({"payload": n})).await;
        app.submit(&second, json!({"payload": n})).await;
    }
    let strict = app
        .post(
            "/v1/leases",
            json!({"queues": [first, second], "max_tasks": 4}),
        )
        .await;
    let queues: Vec<Value> = strict.body["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["task"]["queue"].clone())
        .collect();
    assert_eq!(
        queues,
        [json!(first), json!(first), json!(first), json!(second)]
    );

    app.patch_policy(&second, json!({"paused": true})).await;
    let third = queue("strict-c");
    app.submit(&third, json!({"payload": "c"})).await;
    let skipped = app
        .post(
            "/v1/leases",
            json!({"queues": [second, third], "max_tasks": 2}),
        )
        .await;
    let queues: Vec<Value> = skipped.body["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["task"]["queue"].clone())
        .collect();
    assert_eq!(queues, [json!(third)], "the paused queue was skipped");
}

/// A policy reset to the defaults keeps its version through the reaper's sweeps (an empty queue
/// is otherwise forgotten), so an ETag read after the reset still applies: versions never go
/// back.
#[tokio::test]
async fn a_reset_policy_keeps_its_version_through_sweeps() {
    let app = TestApp::start_with(RedisServer::shared(), &["--reaper-interval-ms=0"]).await;
    let q = queue("policy-kept");
    let path = format!("/v1/queues/{q}/policy");
    app.patch_policy(&q, json!({"weight": 2})).await;
    let reset = app.delete(&path).await;
    assert_eq!(reset.body["version"], 2);
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    let mut reaper = taskgate::store::sweep::Reaper::new(store.sweep);
    for _ in 0..3 {
        reaper.tick().await;
    }
    let read = app.get(&path).await;
    assert_eq!(read.headers["etag"], "\"2\"");
    let put = app
        .request_with(
            Method::PUT,
            &path,
            Some(&json!({"weight": 3})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["version"], 3);
}
