//! The OpenAPI contract: the served document is the committed one, and Swagger UI is served
//! from the binary with no network access.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

/// `GET /openapi.json` equals `openapi/openapi.json`. Regenerate the file with
/// `cargo run -- openapi > openapi/openapi.json` after changing the API.
#[tokio::test]
async fn served_openapi_matches_the_committed_file() {
    let app = TestApp::start().await;
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    let committed: Value = serde_json::from_str(COMMITTED).expect("committed spec is JSON");
    assert!(
        served.body == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(
        taskgate::openapi_json(),
        COMMITTED,
        "the committed file is not in canonical form"
    );
}

/// Every operation has a summary, an operationId and documented problem responses, and every
/// schema has an example or a description, so generated clients and Swagger UI are useful.
#[tokio::test]
async fn every_operation_is_documented_with_errors() {
    let spec: Value = serde_json::from_str(COMMITTED).expect("spec");
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let name = format!("{method} {path}");
            assert!(
                op["summary"].is_string() && op["description"].is_string(),
                "{name}: summary"
            );
            assert!(op["operationId"].is_string(), "{name}: operationId");
            let responses = op["responses"].as_object().expect("responses");
            if path != "/healthz" {
                assert!(responses.contains_key("503"), "{name}: no 503 documented");
            }
            for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let content = &response["content"]["application/problem+json"];
                assert!(
                    content["example"]["type"].is_string(),
                    "{name} {status}: no problem example"
                );
            }
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            schema.get("example").is_some() || schema.get("description").is_some(),
            "schema {name}"
        );
    }
}

/// Swagger UI and its assets come from the binary itself (no CDN).
#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::start().await;
    let page = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "not the Swagger UI page");
    assert!(
        !html.contains("://"),
        "the page loads something from another host"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = app
            .client
            .get(format!("{}/docs/{asset}", app.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let body = response.text().await.expect("asset body");
        assert!(body.len() > 100, "{asset} is empty");
        if asset == "swagger-initializer.js" {
            assert!(
                body.contains("/openapi.json"),
                "the UI does not load our document"
            );
        }
    }
}
