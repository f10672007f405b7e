//! A small JSON Schema checker for the OpenAPI document's own examples. It knows exactly the
//! keywords the document uses and fails on any other, so it can never pass an example by
//! ignoring a constraint it does not understand.

use regex::Regex;
use serde_json::Value;

/// Every problem of `value` against `schema` (resolving `#/components/schemas/...` in `doc`),
/// as "path: problem" lines.
pub fn problems(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(doc, schema, value, "$", &mut found);
    found
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        found.push(format!("{at}: schema is not an object"));
        return;
    };
    for (keyword, rule) in schema {
        match keyword.as_str() {
            "description" | "example" | "examples" | "format" | "default" | "title" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("{at}: unsupported $ref {rule}"));
                check(doc, &doc["components"]["schemas"][name], value, at, found);
            }
            "type" => {
                let allowed: Vec<&str> = match rule {
                    Value::String(one) => vec![one.as_str()],
                    Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                    other => panic!("{at}: type {other}"),
                };
                if !allowed.iter().any(|t| is_type(value, t)) {
                    found.push(format!("{at}: {value} is not {allowed:?}"));
                }
            }
            "oneOf" => {
                let options = rule.as_array().expect("oneOf options");
                let fitting = options
                    .iter()
                    .filter(|option| problems(doc, option, value).is_empty())
                    .count();
                if fitting != 1 {
                    found.push(format!(
                        "{at}: {value} fits {fitting} of the oneOf options, not 1"
                    ));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|all| all.contains(value)) {
                    found.push(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "required" => {
                for name in rule.as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or("");
                    if value.is_object() && value.get(name).is_none() {
                        found.push(format!("{at}: {name} is required"));
                    }
                }
            }
            "properties" => {
                let Some(object) = value.as_object() else {
                    continue;
                };
                let properties = rule.as_object().expect("properties");
                for (name, item) in object {
                    match properties.get(name) {
                        Some(property) => {
                            check(doc, property, item, &format!("{at}.{name}"), found);
                        }
                        None => found.push(format!("{at}: {name} is not a documented property")),
                    }
                }
            }
            // A record object is closed: "properties" above already refuses a property it
            // does not document, so `false` adds nothing to check. A map (labels) has a schema
            // for its values instead, and one for its names.
            "additionalProperties" => {
                if rule != &Value::Bool(false) {
                    // Only a map of names to values may be open, and it names its names.
                    assert!(
                        rule.is_object() && schema.contains_key("propertyNames"),
                        "{at}: additionalProperties {rule} on a record"
                    );
                    for (name, item) in value.as_object().into_iter().flatten() {
                        check(doc, rule, item, &format!("{at}.{name}"), found);
                    }
                }
            }
            "propertyNames" => {
                for name in value.as_object().into_iter().flatten().map(|(k, _)| k) {
                    check(
                        doc,
                        rule,
                        &Value::String(name.clone()),
                        &format!("{at}.{name}"),
                        found,
                    );
                }
            }
            "maxProperties" => {
                if let (Some(object), Some(bound)) = (value.as_object(), rule.as_u64()) {
                    if object.len() as u64 > bound {
                        found.push(format!(
                            "{at}: {} properties break maxProperties {bound}",
                            object.len()
                        ));
                    }
                }
            }
            "items" => {
                for (n, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(doc, rule, item, &format!("{at}[{n}]"), found);
                }
            }
            "minimum" | "maximum" => {
                if let (Some(v), Some(bound)) = (value.as_f64(), rule.as_f64()) {
                    let ok = if keyword == "minimum" {
                        v >= bound
                    } else {
                        v <= bound
                    };
                    if !ok {
                        found.push(format!("{at}: {v} breaks {keyword} {bound}"));
                    }
                }
            }
            "minItems" | "maxItems" => {
                if let (Some(items), Some(bound)) = (value.as_array(), rule.as_u64()) {
                    let count = items.len() as u64;
                    let ok = if keyword == "minItems" {
                        count >= bound
                    } else {
                        count <= bound
                    };
                    if !ok {
                        found.push(format!("{at}: {count} items break {keyword} {bound}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(text), Some(bound)) = (value.as_str(), rule.as_u64()) {
                    let length = text.chars().count() as u64;
                    let ok = if keyword == "minLength" {
                        length >= bound
                    } else {
                        length <= bound
                    };
                    if !ok {
                        found.push(format!("{at}: length {length} breaks {keyword} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Some(text) = value.as_str() {
                    let pattern = Regex::new(rule.as_str().unwrap_or("")).expect("pattern");
                    if !pattern.is_match(text) {
                        found.push(format!("{at}: {text:?} does not match {rule}"));
                    }
                }
            }
            other => panic!("{at}: the checker does not know the keyword {other:?}"),
        }
    }
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}
