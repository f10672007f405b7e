//! Every bound the document states for a request body is the bound the server enforces. For
//! each operation with a JSON body, each top-level field with a `minimum`/`maximum`,
//! `minLength`/`maxLength` or `minItems`/`maxItems` is sent at each bound (accepted: no
//! problem names the field) and one past it (refused: a `422` naming the field), in the
//! operation's own example body. With no Redis here, an accepted body goes on to the store and
//! is answered `503`; that is fine, the body was read.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::{InProcess, Reply};

/// One field of one operation's body, and what its schema says of it.
struct Bounded {
    method: Method,
    path: String,
    content_type: String,
    example: Map<String, Value>,
    field: String,
    schema: Value,
}

/// The schema `value` names (following a `$ref` into the components).
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &document["components"]["schemas"][name]
        }
        None => value,
    }
}

/// Every bounded top-level field of every request body in the served document.
fn bounded_fields() -> Vec<Bounded> {
    let document = serde_json::to_value(taskgate::openapi()).expect("document");
    let mut found = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            let (content_type, media) = content.iter().next().expect("a content type");
            let schema = resolve(&document, &media["schema"]);
            let example = media["example"]
                .as_object()
                .cloned()
                .unwrap_or_else(|| panic!("{method} {path}: the body has an example"));
            let path = path
                .replace("{queue}", "bounds")
                .replace("{id}", "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11");
            for (field, property) in schema["properties"].as_object().into_iter().flatten() {
                found.push(Bounded {
                    method: method.to_uppercase().parse().expect("method"),
                    path: path.clone(),
                    content_type: content_type.clone(),
                    example: example.clone(),
                    field: field.clone(),
                    schema: resolve(&document, property).clone(),
                });
            }
        }
    }
    found
}

/// The values at and one past each bound the schema states: `(value, accepted)`.
fn probes(schema: &Value, example: Option<&Value>) -> Vec<(Value, bool, String)> {
    let mut probes = Vec::new();
    let number = |key: &str| schema[key].as_f64();
    let whole = schema["type"].to_string().contains("integer");
    let at = |n: f64| if whole { json!(n as i64) } else { json!(n) };
    if let Some(min) = number("minimum") {
        probes.push((at(min), true, format!("minimum {min}")));
        probes.push((at(min - 1.0), false, format!("minimum {min} - 1")));
    }
    if let Some(max) = number("maximum") {
        probes.push((at(max), true, format!("maximum {max}")));
        probes.push((at(max + 1.0), false, format!("maximum {max} + 1")));
    }
    let text = |n: usize| json!("x".repeat(n));
    if let Some(min) = schema["minLength"].as_u64() {
        let min = min as usize;
        probes.push((text(min), true, format!("minLength {min}")));
        if min > 0 {
            probes.push((text(min - 1), false, format!("minLength {min} - 1")));
        }
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        let max = max as usize;
        probes.push((text(max), true, format!("maxLength {max}")));
        probes.push((text(max + 1), false, format!("maxLength {max} + 1")));
    }
    // A list of `n` items like the example's first (distinct names, for lists of strings).
    let first = example.and_then(|list| list.get(0)).cloned();
    let list = |n: usize| -> Value {
        (0..n)
            .map(|i| match &first {
                Some(Value::String(_)) | None => json!(format!("q{i}")),
                Some(item) => item.clone(),
            })
            .collect()
    };
    if let Some(min) = schema["minItems"].as_u64() {
        let min = min as usize;
        probes.push((list(min), true, format!("minItems {min}")));
        if min > 0 {
            probes.push((list(min - 1), false, format!("minItems {min} - 1")));
        }
    }
    if let Some(max) = schema["maxItems"].as_u64() {
        let max = max as usize;
        probes.push((list(max), true, format!("maxItems {max}")));
        probes.push((list(max + 1), false, format!("maxItems {max} + 1")));
    }
    probes
}

/// Whether the answer is a `422` naming `field`.
fn names(reply: &Reply, field: &str) -> bool {
    reply.status.as_u16() == 422
        && reply.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["field"] == field)
}

#[tokio::test]
async fn every_documented_bound_is_the_enforced_one() {
    // A policy's `max_payload_bytes` may go up to the server's own limit, documented as its
    // highest setting: the server here runs with that.
    let app = InProcess::with(&[
        "--redis-connect-timeout-ms=200",
        "--max-payload-bytes=1073741824",
    ]);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for target in bounded_fields() {
        for (value, accepted, bound) in probes(&target.schema, target.example.get(&target.field)) {
            let mut body = target.example.clone();
            body.insert(target.field.clone(), value);
            let reply = app
                .send(
                    target.method.clone(),
                    &target.path,
                    &[("content-type", target.content_type.as_str())],
                    Some(Value::Object(body).to_string().into_bytes()),
                )
                .await;
            checked += 1;
            let refused = names(&reply, &target.field);
            if refused == accepted {
                let shown: String = reply.body.to_string().chars().take(300).collect();
                wrong.push(format!(
                    "{} {} {} at {bound}: {} {shown}",
                    target.method, target.path, target.field, reply.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "documented and enforced bounds differ:\n{}",
        wrong.join("\n")
    );
    // Every body's bounds were tried: submit, batch submit, the leases, heartbeat, ack, fail,
    // batch ack, redrive and the policy (PUT and PATCH).
    assert!(
        checked >= 80,
        "only {checked} probes: the document lost its bounds?"
    );
}

/// The same for query parameters: each bounded one at each bound (no problem names it) and
/// one past (a `422` naming it). A required parameter is given its schema's first value.
#[tokio::test]
async fn every_documented_query_bound_is_the_enforced_one() {
    let document = serde_json::to_value(taskgate::openapi()).expect("document");
    let app = InProcess::with(&["--redis-connect-timeout-ms=200"]);
    let (mut checked, mut wrong) = (0, Vec::new());
    for (path, operations) in document["paths"].as_object().expect("paths") {
        let Some(parameters) = operations["get"]["parameters"].as_array() else {
            continue;
        };
        let path = path
            .replace("{queue}", "bounds")
            .replace("{id}", "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11");
        let query: Vec<&Value> = parameters.iter().filter(|p| p["in"] == "query").collect();
        let required: Vec<String> = query
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| {
                let schema = resolve(&document, &p["schema"]);
                format!(
                    "{}={}",
                    p["name"].as_str().unwrap_or(""),
                    schema["enum"][0].as_str().unwrap_or("")
                )
            })
            .collect();
        for parameter in &query {
            let name = parameter["name"].as_str().expect("name");
            for (value, accepted, bound) in probes(&parameter["schema"], None) {
                let mut pairs = required.clone();
                pairs.push(format!("{name}={value}"));
                let uri = format!("{path}?{}", pairs.join("&"));
                let reply = app.send(Method::GET, &uri, &[], None).await;
                checked += 1;
                if names(&reply, name) == accepted {
                    wrong.push(format!(
                        "GET {uri} at {bound}: {} {}",
                        reply.status, reply.body
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "documented and enforced bounds differ:\n{}",
        wrong.join("\n")
    );
    // `limit` on three listings and `wait_ms` on a task read.
    assert!(
        checked >= 16,
        "only {checked} probes: the document lost its bounds?"
    );
}
