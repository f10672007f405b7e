//! Unit tests of the body reader: fields, bounds, duplicates, depth, content types.

use super::fields::{Fields, nesting_over};
use super::*;
use crate::model::MAX_JSON_DEPTH_DEFAULT;

fn problems(result: Result<(), ApiError>) -> Vec<String> {
    match result {
        Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation problem, got {other:?}"),
    }
}

#[test]
fn every_problem_in_a_body_is_named_at_once() {
    let body = br#"{"payload":1,"priority":5000,"lease_mss":3,"delay_ms":1.5,"name":7}"#;
    let mut fields = Fields::parse(body).expect("object");
    assert!(fields.raw("payload").is_some());
    assert_eq!(fields.int::<i32>("priority", -1000, 1000), None);
    assert_eq!(fields.int::<u64>("delay_ms", 0, 10), None);
    assert_eq!(fields.text("name", 1, 5), None);
    let missing = fields.raw("lease_id");
    fields.required("lease_id", missing);
    assert_eq!(
        problems(fields.finish()),
        ["priority", "delay_ms", "name", "lease_id", "lease_mss"]
    );
}

#[test]
fn json_problems_are_malformed_or_not_an_object() {
    for bad in [&b"{\"a\": "[..], b"{} x", b""] {
        assert!(matches!(Fields::parse(bad), Err(ApiError::Malformed(_))));
    }
    for not_object in [&b"[1]"[..], b"3", b"null"] {
        let Err(ApiError::Validation(errors)) = Fields::parse(not_object) else {
            panic!("{not_object:?} accepted");
        };
        assert_eq!(errors[0].field, "body");
    }
}

#[test]
fn raw_values_keep_their_exact_text() {
    let body = br#"{"payload": {"z":1, "a":12345678901234567890123,"dup":1,"dup":2}}"#;
    let mut fields = Fields::parse(body).expect("object");
    let raw = fields.raw("payload").expect("payload");
    assert_eq!(
        raw.get(),
        r#"{"z":1, "a":12345678901234567890123,"dup":1,"dup":2}"#
    );
}

#[test]
fn a_repeated_key_is_a_problem_naming_it_but_a_payload_keeps_its_own() {
    let body = br#"{"payload": {"a":1,"a":2}, "lease_ms": 1, "lease_ms": 2, "b": {"x":1,"x":1}}"#;
    let mut fields = Fields::parse(body).expect("object");
    let payload = fields.raw("payload").expect("payload");
    assert_eq!(payload.get(), r#"{"a":1,"a":2}"#);
    assert_eq!(fields.int::<u64>("lease_ms", 0, 0), None);
    let nested = fields.nested("b").expect("object");
    fields.nested_done(nested);
    let Err(ApiError::Validation(errors)) = fields.finish() else {
        panic!("the repeated keys were accepted");
    };
    let named: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(named.len(), 2, "one message per field: {named:?}");
    assert_eq!(named[0].0, "lease_ms");
    assert!(named[0].1.contains("more than once"), "{named:?}");
    assert_eq!(named[1].0, "b.x");
}

#[test]
fn a_key_repeated_through_an_escape_is_still_repeated() {
    let body = br#"{"payload": 1, "pay\u006coad": 2}"#;
    let fields = Fields::parse(body).expect("object");
    assert_eq!(problems(fields.finish()), ["payload"]);
}

#[test]
fn nesting_is_measured_without_counting_brackets_in_strings() {
    assert_eq!(nesting_over(b"1", 0), None);
    assert_eq!(nesting_over(b"[]", 0), Some(1));
    assert_eq!(nesting_over(br#"{"a":[{"b":[]}]}"#, 3), Some(4));
    assert_eq!(nesting_over(br#"{"a":[{"b":[]}]}"#, 4), None);
    assert_eq!(nesting_over(br#"["[[[[", "\"[[[", "\\", []]"#, 1), Some(2));
    assert_eq!(nesting_over(br#"["[[[[", "\"[[[", "\\"]"#, 1), None);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(nesting_over(deep.as_bytes(), 64), Some(100_000));
}

#[test]
fn a_payload_deeper_than_the_limit_is_a_problem_naming_it() {
    let at_limit = format!(r#"{{"payload": {}1{}}}"#, "[".repeat(3), "]".repeat(3));
    let mut fields = Fields::parse_with_depth(at_limit.as_bytes(), 3).expect("object");
    assert!(fields.raw("payload").is_some());
    assert!(fields.finish().is_ok());
    let over = format!(r#"{{"result": {}1{}}}"#, "[".repeat(4), "]".repeat(4));
    let mut fields = Fields::parse_with_depth(over.as_bytes(), 3).expect("object");
    assert!(fields.raw("result").is_none());
    let missing = None::<()>;
    fields.required("result", missing);
    let Err(ApiError::Validation(errors)) = fields.finish() else {
        panic!("accepted");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "result");
    assert!(errors[0].message.contains("4 levels"), "{errors:?}");
}

/// What a lease answer puts around a payload at the default limit stays within serde_json's
/// own recursion limit, so a Rust client (and the stricter parsers) reads it.
#[test]
fn a_payload_at_the_default_limit_is_readable_inside_a_lease_answer() {
    let depth = MAX_JSON_DEPTH_DEFAULT;
    let payload = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let answer = format!(r#"{{"leases":[{{"lease_id":"x","task":{{"payload":{payload}}}}}]}}"#);
    assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok());
}

/// The documents state the default depth limit in words (a literal), so it must agree.
#[test]
fn the_documented_depth_limit_is_the_default() {
    let document = crate::openapi_json();
    let stated = format!("{MAX_JSON_DEPTH_DEFAULT} levels");
    // The overview, both payloads, both results.
    assert_eq!(document.matches(&stated).count(), 5, "{stated}");
}

#[test]
fn whole_floats_are_integers_and_null_is_absent() {
    let mut fields = Fields::parse(br#"{"a": 2.0, "b": null, "c": true}"#).expect("object");
    assert_eq!(fields.int::<u32>("a", 0, 5), Some(2));
    assert_eq!(fields.int::<u32>("b", 0, 5), None);
    assert_eq!(fields.boolean("c"), Some(true));
    assert!(fields.finish().is_ok());
}

#[test]
fn json_content_types_are_recognised() {
    let with = |value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, value.parse().expect("header"));
        is_json(&headers)
    };
    assert!(with("application/json"));
    assert!(with("application/json; charset=utf-8"));
    assert!(with("application/merge-patch+json"));
    assert!(!with("text/plain"));
    assert!(!is_json(&HeaderMap::new()));
}
