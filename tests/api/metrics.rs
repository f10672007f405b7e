//! `/metrics`: every listed family is exposed, the values move as tasks flow, and who may read
//! it follows `--metrics-access`. A queue's series go when it is deleted or idle, and the number
//! of queues with series of their own is capped.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth::{ADMIN_KEY, PRODUCER_KEY, keyed_app};
use crate::harness::{RedisServer, TestApp, eventually, queue};
use crate::process::Server;

/// The value of the series `name{labels}` (labels in the exporter's order), if exposed.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    scrape_at(&app.client, &app.base).await
}

async fn scrape_at(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.expect("text")
}

#[tokio::test]
async fn metrics_expose_every_family_and_move_as_tasks_flow() {
    let app = TestApp::start().await;
    let q = queue("metered");
    let transitions = |kind: &str| {
        format!("taskgate_task_transitions_total{{queue=\"{q}\",transition=\"{kind}\"}}")
    };
    let before = scrape(&app).await;
    let submits = "taskgate_http_requests_total{method=\"POST\",route=\"/v1/queues/{queue}/tasks\",status=\"201\"}";
    let submitted_before = value(&before, submits).unwrap_or(0.0);

    for n in 0..3 {
        app.submit(&q, json!({"payload": n})).await;
    }
    let lease = app.lease_one(&q).await;
    assert_eq!(
        app.worker_call(&lease, "ack", json!({})).await.status,
        StatusCode::OK
    );
    let lease = app.lease_one(&q).await;
    let failed = app
        .worker_call(&lease, "fail", json!({"error": "no", "retry": false}))
        .await;
    assert_eq!(failed.status, StatusCode::OK);

    let after = scrape(&app).await;
    assert_eq!(
        value(&after, &transitions("submitted")),
        Some(3.0),
        "{after}"
    );
    assert_eq!(value(&after, &transitions("leased")), Some(2.0));
    assert_eq!(value(&after, &transitions("completed")), Some(1.0));
    assert_eq!(value(&after, &transitions("dead")), Some(1.0));
    assert!(value(&after, submits).unwrap_or(0.0) >= submitted_before + 3.0);
    assert!(
        value(
            &after,
            "taskgate_redis_command_duration_seconds_count{op=\"submit\"}"
        )
        .unwrap_or(0.0)
            >= 3.0
    );
    assert!(
        value(
            &after,
            "taskgate_lease_wait_seconds_count{outcome=\"leased\"}"
        )
        .unwrap_or(0.0)
            >= 2.0
    );
    assert!(value(&after, "taskgate_redis_pool_connections").unwrap_or(0.0) >= 1.0);
    // Queue depths come from the reaper's sweeps, not from the scrape.
    let depth = |state: &str| format!("taskgate_queue_tasks{{queue=\"{q}\",state=\"{state}\"}}");
    eventually("the reaper to sample the queue", || async {
        let text = scrape(&app).await;
        (value(&text, &depth("ready")) == Some(1.0)
            && value(&text, &depth("completed")) == Some(1.0)
            && value(&text, &depth("dead")) == Some(1.0))
        .then_some(())
    })
    .await;
    let last = scrape(&app).await;
    assert!(value(&last, "taskgate_reaper_sweep_duration_seconds_count").unwrap_or(0.0) >= 1.0);
    for family in taskgate::metrics::FAMILIES {
        assert!(
            last.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{last}"
        );
    }
}

/// With keys, `/metrics` wants an admin key by default, and anyone with `--metrics-access=open`.
#[tokio::test]
async fn metrics_access_is_admin_or_open_by_configuration() {
    let guarded = keyed_app(RedisServer::shared(), &[]).await;
    async fn get(app: &TestApp, key: Option<&str>) -> StatusCode {
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        app.request_with(Method::GET, "/metrics", None, &headers)
            .await
            .status
    }
    assert_eq!(get(&guarded, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&guarded, Some(PRODUCER_KEY)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(&guarded, Some(ADMIN_KEY)).await, StatusCode::OK);
    let open = keyed_app(RedisServer::shared(), &["--metrics-access=open"]).await;
    assert_eq!(get(&open, None).await, StatusCode::OK);
    let tasks = open
        .request_with(Method::GET, "/v1/queues", None, &[])
        .await;
    assert_eq!(
        tasks.status,
        StatusCode::UNAUTHORIZED,
        "only /metrics is opened"
    );
}

/// A `taskgate` process of its own, on the shared Redis with a key prefix of its own: the limits
/// on per-queue series are the process's (as the metrics recorder is), so they cannot be tried
/// on an app inside this test binary without reaching every other test's metrics. Settings go
/// through the environment.
struct Metered {
    server: Server,
    client: reqwest::Client,
}

impl Metered {
    fn start(env: &[(&str, &str)]) -> Self {
        let prefix = queue("metered");
        let url = RedisServer::shared().url();
        let mut all = vec![
            ("TASKGATE_REDIS_URL", url.as_str()),
            ("TASKGATE_KEY_PREFIX", prefix.as_str()),
            ("TASKGATE_REAPER_INTERVAL_MS", "100"),
        ];
        all.extend_from_slice(env);
        let mut server = Server::spawn(&all, &[]);
        server.wait_up();
        Self {
            server,
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.server.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("http request");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn submit(&self, q: &str) {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/v1/queues/{q}/tasks"),
                Some(json!({"payload": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "submit: {body}");
    }

    /// Leases one task of `q` and acks it.
    async fn work_one(&self, q: &str) {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/v1/queues/{q}/leases"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "lease: {body}");
        let lease = &body["leases"][0];
        let id = lease["task"]["id"].as_str().expect("a leased task's id");
        let lease_id = lease["lease_id"].as_str().expect("a lease id");
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/v1/queues/{q}/tasks/{id}/ack"),
                Some(json!({"lease_id": lease_id})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "ack: {body}");
    }

    async fn delete_queue(&self, q: &str) {
        let (status, body) = self
            .call(Method::DELETE, &format!("/v1/queues/{q}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "delete: {body}");
    }

    async fn scrape(&self) -> String {
        scrape_at(&self.client, &self.server.base).await
    }

    /// The text after at least `ticks` more reaper ticks have ended (counted by the sweep
    /// histogram), so that what a sweep would do has been done.
    async fn scrape_after_ticks(&self, ticks: f64) -> String {
        let count = "taskgate_reaper_sweep_duration_seconds_count";
        let start = value(&self.scrape().await, count).unwrap_or(0.0);
        eventually("more reaper ticks", || async {
            let text = self.scrape().await;
            (value(&text, count).unwrap_or(0.0) >= start + ticks).then_some(text)
        })
        .await
    }
}

/// Every line of `/metrics` that is about `queue`.
fn lines_of(text: &str, queue: &str) -> Vec<String> {
    let label = format!("queue=\"{queue}\"");
    text.lines()
        .filter(|line| line.contains(&label))
        .map(str::to_owned)
        .collect()
}

fn submitted(q: &str) -> String {
    format!("taskgate_task_transitions_total{{queue=\"{q}\",transition=\"submitted\"}}")
}

fn depth(q: &str, state: &str) -> String {
    format!("taskgate_queue_tasks{{queue=\"{q}\",state=\"{state}\"}}")
}

/// `DELETE` of a queue takes its series out of `/metrics` at once; sweeps that follow do not
/// bring them back; its next task starts them again from 0.
#[tokio::test]
async fn deleting_a_queue_drops_its_series() {
    let server = Metered::start(&[]);
    let q = queue("deleted");
    for _ in 0..3 {
        server.submit(&q).await;
    }
    server.work_one(&q).await;
    eventually("the reaper to sample the queue", || async {
        (value(&server.scrape().await, &depth(&q, "ready")) == Some(2.0)).then_some(())
    })
    .await;

    server.delete_queue(&q).await;
    let text = server.scrape().await;
    assert_eq!(
        lines_of(&text, &q),
        Vec::<String>::new(),
        "right after DELETE"
    );
    let text = server.scrape_after_ticks(3.0).await;
    assert_eq!(lines_of(&text, &q), Vec::<String>::new(), "after sweeps");

    server.submit(&q).await;
    let text = server.scrape().await;
    assert_eq!(value(&text, &submitted(&q)), Some(1.0), "{text}");
}

/// A queue idle past `TASKGATE_METRICS_QUEUE_IDLE_MS` (no transition, nothing waiting) loses its
/// series, not before; a queue whose task still waits keeps its own though nothing happens.
#[tokio::test]
async fn an_idle_queue_loses_its_series_and_one_with_waiting_tasks_keeps_them() {
    const IDLE_MS: u64 = 1500;
    let idle_ms = IDLE_MS.to_string();
    let server = Metered::start(&[("TASKGATE_METRICS_QUEUE_IDLE_MS", &idle_ms)]);
    let (idle, waiting) = (queue("idle"), queue("waiting"));
    server.submit(&waiting).await;
    server.submit(&idle).await;
    let last_activity = Instant::now();
    server.work_one(&idle).await;
    let text = server.scrape().await;
    assert_eq!(value(&text, &submitted(&idle)), Some(1.0), "{text}");

    let text = eventually("the idle queue's series to go", || async {
        let text = server.scrape().await;
        lines_of(&text, &idle).is_empty().then_some(text)
    })
    .await;
    assert!(
        last_activity.elapsed() >= Duration::from_millis(IDLE_MS),
        "dropped after {:?}, before the idle bound",
        last_activity.elapsed()
    );
    assert_eq!(value(&text, &submitted(&waiting)), Some(1.0), "{text}");
    assert_eq!(value(&text, &depth(&waiting, "ready")), Some(1.0), "{text}");

    server.submit(&idle).await;
    let text = server.scrape().await;
    assert_eq!(value(&text, &submitted(&idle)), Some(1.0), "{text}");
}

/// With `TASKGATE_METRICS_MAX_QUEUES=2`, the first two queues have series of their own and the
/// others are summed under `queue="(other)"`; deleting a queue frees its place.
#[tokio::test]
async fn queues_past_the_cap_are_summed_under_other() {
    let server = Metered::start(&[("TASKGATE_METRICS_MAX_QUEUES", "2")]);
    let qs: Vec<String> = (0..4).map(|_| queue("capped")).collect();
    for q in &qs {
        server.submit(q).await;
    }
    let text = eventually("the reaper to sample every queue", || async {
        let text = server.scrape().await;
        (value(&text, &depth("(other)", "ready")) == Some(2.0)).then_some(text)
    })
    .await;
    assert_eq!(value(&text, &submitted(&qs[0])), Some(1.0), "{text}");
    assert_eq!(value(&text, &submitted(&qs[1])), Some(1.0), "{text}");
    assert_eq!(value(&text, &depth(&qs[0], "ready")), Some(1.0), "{text}");
    assert_eq!(value(&text, &submitted("(other)")), Some(2.0), "{text}");
    for q in &qs[2..] {
        assert_eq!(lines_of(&text, q), Vec::<String>::new(), "{q} past the cap");
    }

    server.delete_queue(&qs[0]).await;
    let fifth = queue("capped");
    server.submit(&fifth).await;
    let text = server.scrape().await;
    assert_eq!(value(&text, &submitted(&fifth)), Some(1.0), "{text}");
    assert_eq!(value(&text, &submitted("(other)")), Some(2.0), "{text}");
}
