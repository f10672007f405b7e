//! Probes: liveness, readiness, and the `taskgate healthcheck` client the container uses.

use reqwest::{Method, StatusCode};

use crate::harness::{TestApp, log_lines};

/// `/healthz` and `/readyz` answer 200 while Redis is up, and every response has a request id
/// (the client's own, when it sent one).
#[tokio::test]
async fn probes_answer_and_every_response_has_a_request_id() {
    let app = TestApp::start().await;
    let live = app.get("/healthz").await;
    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    for reply in [live, ready, app.get("/nowhere").await] {
        assert!(
            reply
                .headers
                .get("x-request-id")
                .is_some_and(|v| !v.is_empty())
        );
    }
}

/// The access log writes the probes (a container's health check asks every 10 s) at DEBUG and
/// every other request at INFO.
#[tokio::test]
async fn probes_are_logged_below_info_in_the_access_log() {
    let app = TestApp::start().await;
    let tag = crate::harness::queue("probe-log");
    let mut levels = Vec::new();
    for path in ["/healthz", "/readyz", "/v1/queues"] {
        let request_id = format!("{tag}{}", path.replace('/', "-"));
        let reply = app
            .request_with(Method::GET, path, None, &[("x-request-id", &request_id)])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let lines: Vec<String> = log_lines(&format!("request_id={request_id}"))
            .into_iter()
            .filter(|line| line.contains("taskgate::access"))
            .collect();
        assert_eq!(lines.len(), 1, "one access line for {path}: {lines:?}");
        let level = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
            .into_iter()
            .find(|level| lines[0].contains(&format!(" {level} ")))
            .unwrap_or_else(|| panic!("a level in {}", lines[0]));
        levels.push((path, level));
    }
    assert_eq!(
        levels,
        [
            ("/healthz", "DEBUG"),
            ("/readyz", "DEBUG"),
            ("/v1/queues", "INFO")
        ]
    );
}

/// The healthcheck client succeeds against a live server and fails where none listens.
#[tokio::test]
async fn healthcheck_client_tells_live_from_dead() {
    let app = TestApp::start().await;
    let addr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    assert!(taskgate::healthcheck::check(addr, false).await);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    assert!(!taskgate::healthcheck::check(closed, true).await);
}

/// The start-up check reads Redis's real `maxmemory-policy`, so the loud warning fires when
/// Redis may evict tasks and stays quiet under `noeviction`.
#[tokio::test]
async fn store_reads_the_eviction_policy_it_warns_about() {
    let redis = crate::harness::RedisServer::start();
    let app = TestApp::start_with(&redis, &[]).await;
    let store = taskgate::state_from_config(&app.config)
        .expect("state")
        .store;
    assert_eq!(
        store.engine.maxmemory_policy().await.expect("read"),
        "noeviction"
    );
    let mut conn = redis.connection().await;
    let _: () = deadpool_redis::redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut conn)
        .await
        .expect("CONFIG SET");
    assert_eq!(
        store.engine.maxmemory_policy().await.expect("read"),
        "allkeys-lru"
    );
}
