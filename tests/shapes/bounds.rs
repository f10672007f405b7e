//! Every bound the document states is the bound the server enforces. For each operation with
//! a JSON body, each field with a `minimum`/`maximum`, `minLength`/`maxLength` or
//! `minItems`/`maxItems` (at the top, in an object of the body such as a policy's `backoff`,
//! and in the items of a batch) is sent at each bound and one past it, in the operation's own
//! example body. At a bound the body must be read whole and go on to the store: with no Redis
//! here, that is a `503`. One past, it must be a `422` naming the field with a message that
//! states the bound (for a batch item: that item's `422` in a `200`).

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::{InProcess, Reply};

/// Where a probed field sits in the example body.
#[derive(Clone)]
enum Place {
    Top,
    /// In the object `group` (a policy's `backoff`): the other fields of it at their highest.
    Group(String, Map<String, Value>),
    /// In the first item of the list `list` (a batch), the item otherwise the example's.
    Item(String, Map<String, Value>),
}

/// One bounded field of one operation's body.
struct Bounded {
    method: Method,
    path: String,
    content_type: String,
    example: Map<String, Value>,
    place: Place,
    field: String,
    schema: Value,
}

impl Bounded {
    /// The example body with this field set to `value`.
    fn body(&self, value: Value) -> Value {
        let mut body = self.example.clone();
        match &self.place {
            Place::Top => {
                body.insert(self.field.clone(), value);
            }
            Place::Group(group, siblings) => {
                let mut object = siblings.clone();
                object.insert(self.field.clone(), value);
                body.insert(group.clone(), Value::Object(object));
            }
            Place::Item(list, item) => {
                let mut item = item.clone();
                item.insert(self.field.clone(), value);
                body.insert(list.clone(), json!([item]));
            }
        }
        Value::Object(body)
    }
}

/// The schema `value` names (following a `$ref` into the components, and through an optional
/// reference's `oneOf`).
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    if let Some(reference) = value["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return &document["components"]["schemas"][name];
    }
    if let Some(first) = value["oneOf"].as_array().and_then(|items| items.first()) {
        if first["$ref"].is_string() {
            return resolve(document, first);
        }
    }
    value
}

/// The highest value a schema allows, as JSON (for the fields beside a probed one).
fn highest(schema: &Value) -> Option<Value> {
    let max = schema["maximum"].as_f64()?;
    Some(if schema["type"].to_string().contains("integer") {
        json!(max as i64)
    } else {
        json!(max)
    })
}

/// Every bounded field of every request body in the served document.
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
            // The example, or the first of several.
            let first = media["examples"]
                .as_object()
                .and_then(|examples| examples.values().next())
                .map_or(&Value::Null, |example| &example["value"]);
            let example = media["example"]
                .as_object()
                .or_else(|| first.as_object())
                .cloned()
                .unwrap_or_else(|| panic!("{method} {path}: the body has an example"));
            let path = path
                .replace("{queue}", "bounds")
                .replace("{group}", "tenant-42")
                .replace("{name}", "nightly")
                .replace("{id}", "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11");
            let mut add = |place: Place, field: &str, property: &Value| {
                found.push(Bounded {
                    method: method.to_uppercase().parse().expect("method"),
                    path: path.clone(),
                    content_type: content_type.clone(),
                    example: example.clone(),
                    place,
                    field: field.to_owned(),
                    schema: property.clone(),
                });
            };
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let property = resolve(&document, property);
                add(Place::Top, name, property);
                let item = resolve(&document, &property["items"]);
                if let Some(fields) = item["properties"].as_object() {
                    // A batch: the item's own fields, in the example's first item (a list
                    // the example leaves out, such as a submit's `depends_on`, has its
                    // count tried only where an example gives its items).
                    let Some(first) = example.get(name).and_then(|list| list[0].as_object()) else {
                        continue;
                    };
                    let first = first.clone();
                    for (field, inner) in fields {
                        add(Place::Item(name.clone(), first.clone()), field, inner);
                    }
                } else if let Some(fields) = property["properties"].as_object() {
                    // An object of the body: its other fields at their highest, and those
                    // without bounds (a name) as its example has them.
                    let mut siblings = property["example"].as_object().cloned().unwrap_or_default();
                    siblings.extend(
                        fields
                            .iter()
                            .filter_map(|(field, inner)| Some((field.clone(), highest(inner)?))),
                    );
                    for (field, inner) in fields {
                        add(Place::Group(name.clone(), siblings.clone()), field, inner);
                    }
                }
            }
        }
    }
    found
}

/// A bound as a message states it (`100`, `0.001`).
fn stated(bound: f64) -> String {
    if bound.fract() == 0.0 {
        format!("{}", bound as i64)
    } else {
        format!("{bound}")
    }
}

/// The values at and one past each bound the schema states: `(value, accepted, bound, the
/// number a refusal's message must state)`.
fn probes(schema: &Value, example: Option<&Value>) -> Vec<(Value, bool, String, String)> {
    let mut probes = Vec::new();
    let number = |key: &str| schema[key].as_f64();
    let whole = schema["type"].to_string().contains("integer");
    let at = |n: f64| if whole { json!(n as i64) } else { json!(n) };
    // A refusal states the range, which always includes its upper end.
    let upper = |max: Option<f64>| max.map(stated).unwrap_or_default();
    if let Some(min) = number("minimum") {
        let says = upper(number("maximum"));
        probes.push((at(min), true, format!("minimum {min}"), says.clone()));
        probes.push((at(min - 1.0), false, format!("minimum {min} - 1"), says));
    }
    if let Some(max) = number("maximum") {
        probes.push((at(max), true, format!("maximum {max}"), stated(max)));
        probes.push((
            at(max + 1.0),
            false,
            format!("maximum {max} + 1"),
            stated(max),
        ));
    }
    let text = |n: usize| json!("x".repeat(n));
    let longest = schema["maxLength"].as_u64().map(|n| n.to_string());
    if let Some(min) = schema["minLength"].as_u64() {
        let (min, says) = (min as usize, longest.clone().unwrap_or_default());
        probes.push((text(min), true, format!("minLength {min}"), says.clone()));
        if min > 0 {
            probes.push((text(min - 1), false, format!("minLength {min} - 1"), says));
        }
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        let max = max as usize;
        probes.push((text(max), true, format!("maxLength {max}"), max.to_string()));
        probes.push((
            text(max + 1),
            false,
            format!("maxLength {max} + 1"),
            max.to_string(),
        ));
    }
    // A list of `n` items like the example's first: distinct names, or distinct ids when the
    // example's are ids.
    let first = example.and_then(|list| list.get(0)).cloned();
    let list = |n: usize| -> Value {
        (0..n)
            .map(|i| match &first {
                Some(Value::String(id)) if id.len() == 36 => {
                    json!(format!("{}{i:012x}", &id[..24]))
                }
                Some(Value::String(_)) | None => json!(format!("q{i}")),
                // Objects that must differ from each other: a flow's tasks by `ref`.
                Some(item) => {
                    let mut item = item.clone();
                    if let Some(reference) = item.get("ref").and_then(Value::as_str) {
                        item["ref"] = json!(format!("{reference}-{i}"));
                    }
                    item
                }
            })
            .collect()
    };
    let most = schema["maxItems"].as_u64().map(|n| n.to_string());
    if let Some(min) = schema["minItems"].as_u64() {
        let (min, says) = (min as usize, most.clone().unwrap_or_default());
        probes.push((list(min), true, format!("minItems {min}"), says.clone()));
        if min > 0 {
            probes.push((list(min - 1), false, format!("minItems {min} - 1"), says));
        }
    }
    if let Some(max) = schema["maxItems"].as_u64() {
        let max = max as usize;
        probes.push((list(max), true, format!("maxItems {max}"), max.to_string()));
        probes.push((
            list(max + 1),
            false,
            format!("maxItems {max} + 1"),
            max.to_string(),
        ));
    }
    probes
}

/// The message of the problem naming `field`, at the top or in the first item of a batch.
fn refusal<'a>(reply: &'a Reply, field: &str, place: &Place) -> Option<&'a str> {
    let errors = match place {
        Place::Item(..) if reply.status.as_u16() == 200 => {
            &reply.body["results"][0]["error"]["errors"]
        }
        _ if reply.status.as_u16() == 422 => &reply.body["errors"],
        _ => return None,
    };
    // A flow refuses whole, naming an item's field by its place: `tasks[0].priority`.
    let (name, in_item) = match place {
        Place::Group(group, _) => (format!("{group}.{field}"), String::new()),
        Place::Item(list, _) => (field.to_owned(), format!("{list}[0].{field}")),
        Place::Top => (field.to_owned(), String::new()),
    };
    errors
        .as_array()?
        .iter()
        .find(|e| e["field"] == name.as_str() || e["field"] == in_item.as_str())
        .and_then(|e| e["message"].as_str())
}

#[tokio::test]
async fn every_documented_bound_is_the_enforced_one() {
    // A policy's `max_payload_bytes` may go up to the server's own limit, documented as its
    // highest setting: the server here runs with that.
    let app = InProcess::with(&[
        "--redis-connect-timeout-ms=200",
        "--max-payload-bytes=1073741824",
    ]);
    let mut checked: Vec<String> = Vec::new();
    let mut wrong = Vec::new();
    for target in bounded_fields() {
        let example = match &target.place {
            Place::Top => target.example.get(&target.field),
            Place::Item(_, first) => first.get(&target.field),
            Place::Group(..) => None,
        };
        // A list's count is tried with items like its example's; without one (a field the
        // example leaves out), its items could not be made valid.
        if target.schema.get("items").is_some() && example.is_none() {
            continue;
        }
        for (value, accepted, bound, says) in probes(&target.schema, example) {
            let body = target.body(value);
            let reply = app
                .send(
                    target.method.clone(),
                    &target.path,
                    &[("content-type", target.content_type.as_str())],
                    Some(body.to_string().into_bytes()),
                )
                .await;
            checked.push(format!("{} {}", target.method, target.path));
            let refused = refusal(&reply, &target.field, &target.place);
            let right = if accepted {
                // Read whole, and on to the store, which is not there.
                reply.status.as_u16() == 503
            } else {
                refused.is_some_and(|message| message.contains(&says))
            };
            if !right {
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
    // Every operation with a body had its bounds tried.
    for operation in [
        "POST /v1/queues/bounds/tasks",
        "POST /v1/queues/bounds/tasks:batch",
        "POST /v1/queues/bounds/leases",
        "POST /v1/leases",
        "POST /v1/queues/bounds/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/heartbeat",
        "POST /v1/queues/bounds/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/ack",
        "POST /v1/queues/bounds/tasks/019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11/fail",
        "POST /v1/queues/bounds/acks",
        "POST /v1/queues/bounds/dead:redrive",
        "PUT /v1/queues/bounds/policy",
        "PATCH /v1/queues/bounds/policy",
        "POST /v1/flows",
    ] {
        let tried = checked.iter().filter(|c| *c == operation).count();
        assert!(tried >= 4, "{operation}: only {tried} probes");
    }
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
            .replace("{group}", "tenant-42")
            .replace("{name}", "nightly")
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
            for (value, accepted, bound, _) in probes(&parameter["schema"], None) {
                let mut pairs = required.clone();
                pairs.push(format!("{name}={value}"));
                let uri = format!("{path}?{}", pairs.join("&"));
                let reply = app.send(Method::GET, &uri, &[], None).await;
                checked += 1;
                let refused = refusal(&reply, name, &Place::Top).is_some();
                if refused == accepted || (accepted && reply.status.as_u16() != 503) {
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
