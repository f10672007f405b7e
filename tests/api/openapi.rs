//! The OpenAPI contract: the served document is the committed one, and Swagger UI is served
//! from the binary with no network access.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::schema::problems;

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
            // Only the probes and metrics, which need no Redis and are never shed, cannot 503.
            if path != "/healthz" && path != "/metrics" {
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

/// Swagger UI and its assets come from the binary itself (no CDN), the page is titled for
/// taskgate, and nothing on it points at another host: Swagger UI's validator badge (which would
/// send our document's address to validator.swagger.io) is off.
#[tokio::test]
async fn swagger_ui_is_served_offline_without_the_outside_validator() {
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
    assert!(html.contains("<title>taskgate API</title>"), "{html}");
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
                body.contains("\"/openapi.json\""),
                "the UI does not load our document"
            );
            assert!(body.contains("\"validatorUrl\": \"none\""), "{body}");
            assert!(
                !body.contains("://"),
                "the initializer names another host: {body}"
            );
        }
    }
}

/// `/` leads people to the docs.
#[tokio::test]
async fn the_root_redirects_to_the_docs() {
    let app = TestApp::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let reply = client
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("get /");
    assert!(reply.status().is_redirection(), "{}", reply.status());
    assert_eq!(reply.headers()["location"], "/docs/");
}

/// The document's operations, as (name, operation).
fn operations(spec: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            found.push((format!("{method} {path}"), op.clone()));
        }
    }
    found
}

/// Every example of the document fits its schema: schema examples, request body examples and
/// every response example (the problem examples included).
#[test]
fn every_example_fits_its_schema() {
    let spec: Value = serde_json::from_str(COMMITTED).expect("spec");
    let mut checked = 0;
    for (name, schema) in spec["components"]["schemas"].as_object().expect("schemas") {
        if let Some(example) = schema.get("example") {
            let found = problems(&spec, schema, example);
            assert!(found.is_empty(), "schema {name}: {found:#?}");
            checked += 1;
        }
    }
    for (name, op) in operations(&spec) {
        let mut media = vec![("request".to_owned(), op["requestBody"]["content"].clone())];
        for (status, response) in op["responses"].as_object().expect("responses") {
            media.push((status.clone(), response["content"].clone()));
        }
        for (what, content) in media {
            for (_, typed) in content.as_object().into_iter().flatten() {
                if let Some(example) = typed.get("example") {
                    let found = problems(&spec, &typed["schema"], example);
                    assert!(found.is_empty(), "{name} {what}: {found:#?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} examples were checked");
}

/// Each operation's `422` example names one of that operation's own fields (a body property
/// or a path parameter), so the example teaches something true about the call.
#[test]
fn each_validation_example_names_a_field_of_its_operation() {
    let spec: Value = serde_json::from_str(COMMITTED).expect("spec");
    for (name, op) in operations(&spec) {
        let Some(example) =
            op["responses"]["422"]["content"]["application/problem+json"].get("example")
        else {
            continue;
        };
        let mut fields: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let body_schema = op["requestBody"]["content"]
            .as_object()
            .and_then(|content| content.values().next())
            .and_then(|media| media["schema"]["$ref"].as_str())
            .and_then(|r| r.strip_prefix("#/components/schemas/"));
        if let Some(body) = body_schema {
            fields.extend(
                spec["components"]["schemas"][body]["properties"]
                    .as_object()
                    .expect("body properties")
                    .keys()
                    .cloned(),
            );
        }
        // A nested field (`backoff.jitter`) or a list item (`queues[1]`) names its top field.
        let named = example["errors"][0]["field"].as_str().unwrap_or("");
        let named = named.split(['.', '[']).next().unwrap_or("");
        assert!(
            fields.iter().any(|f| f == named),
            "{name}: 422 example names {named:?}, not one of {fields:?}"
        );
    }
}

/// In Swagger UI's "Try it out", the examples work in order: the submit example creates a task
/// in the example queue, and the lease example leases that very task.
#[tokio::test]
async fn the_lease_example_leases_the_submit_example_task() {
    let spec: Value = serde_json::from_str(COMMITTED).expect("spec");
    let app = TestApp::start().await;
    let submit = &spec["paths"]["/v1/queues/{queue}/tasks"]["post"];
    let lease = &spec["paths"]["/v1/queues/{queue}/leases"]["post"];
    let queue = submit["parameters"][0]["example"]
        .as_str()
        .expect("queue example");
    assert_eq!(lease["parameters"][0]["example"], json!(queue));
    let body = &submit["requestBody"]["content"]["application/json"]["example"];
    let task = app.submit(queue, body.clone()).await;
    let lease_body = &lease["requestBody"]["content"]["application/json"]["example"];
    let leases = app.lease(queue, lease_body.clone()).await;
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["task"]["id"], task["id"]);
    assert_eq!(leases[0]["task"]["payload"], body["payload"]);
}
