//! `/metrics`: every listed family is exposed, the values move as tasks flow, and who may read
//! it follows `--metrics-access`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::auth::{ADMIN_KEY, PRODUCER_KEY, keyed_app};
use crate::harness::{RedisServer, TestApp, eventually, queue};

/// The value of the series `name{labels}` (labels in the exporter's order), if exposed.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
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
