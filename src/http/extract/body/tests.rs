//! Unit tests of the body reader: every problem named at once, bounds, duplicates, depth,
//! exact JSON text, content types.

use serde::Deserialize;
use utoipa::ToSchema;

use super::field::{Flag, Int, JsonText, Text, present};
use super::list::{List, Queue};
use super::*;
use crate::model::MAX_JSON_DEPTH_DEFAULT;

/// A body with one field of each kind.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Sample {
    #[schema(inline)]
    payload: JsonText,
    #[schema(inline)]
    priority: Option<Int<-1000, 1000>>,
    #[schema(inline)]
    delay_ms: Option<Int<0, 10>>,
    #[schema(inline)]
    name: Option<Text<1, 5>>,
    #[schema(inline)]
    urgent: Option<Flag>,
    #[serde(default, deserialize_with = "present")]
    #[schema(inline)]
    result: Option<JsonText>,
    #[schema(inline)]
    inner: Option<Inner>,
    #[schema(inline)]
    queues: Option<List<Queue, 1, 3>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Inner {
    #[schema(inline)]
    x: Option<Int<0, 5>>,
    #[schema(inline)]
    y: Option<Int<0, 5>>,
}

impl Check for Sample {
    const DEEP: &'static [&'static str] = &["payload", "result"];
}

fn limits(max_json_depth: usize) -> BodyLimits {
    BodyLimits {
        max_payload_bytes: 1 << 20,
        max_json_depth,
    }
}

fn sample(body: &[u8]) -> Result<Sample, ApiError> {
    read::<Sample>(body, &limits(MAX_JSON_DEPTH_DEFAULT))
}

/// The fields and messages of a validation problem.
fn named(result: Result<Sample, ApiError>) -> Vec<(String, String)> {
    match result {
        Err(ApiError::Validation(errors)) => {
            errors.into_iter().map(|e| (e.field, e.message)).collect()
        }
        Err(other) => panic!("expected a validation problem, got {other:?}"),
        Ok(_) => panic!("expected a validation problem, the body was read"),
    }
}

fn fields(result: Result<Sample, ApiError>) -> Vec<String> {
    named(result).into_iter().map(|(field, _)| field).collect()
}

#[test]
fn every_problem_in_a_body_is_named_at_once() {
    let body = br#"{"priority":5000,"lease_mss":3,"delay_ms":1.5,"name":7,"urgent":"yes"}"#;
    let problems = named(sample(body));
    let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
    // Declaration order, then unknown fields.
    assert_eq!(
        fields,
        [
            "payload",
            "priority",
            "delay_ms",
            "name",
            "urgent",
            "lease_mss"
        ]
    );
    let messages: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages[0], "is required");
    assert_eq!(messages[1], "must be a whole number from -1000 to 1000");
    assert_eq!(messages[2], "must be a whole number from 0 to 10");
    assert_eq!(messages[3], "must be a string, not a number");
    assert_eq!(messages[4], "must be true or false, not a string");
    assert!(messages[5].starts_with("is not a field of this request (known: payload, "));
}

#[test]
fn json_problems_are_malformed_or_not_an_object() {
    // Broken JSON is 400 even when a field before the break is also wrong.
    for bad in [
        &b"{\"a\": "[..],
        b"{} x",
        b"",
        br#"{"priority": "x", "payload": "#,
    ] {
        assert!(
            matches!(sample(bad), Err(ApiError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    for not_object in [&b"[1]"[..], b"3", b"null"] {
        assert_eq!(fields(sample(not_object)), ["body"]);
    }
}

#[test]
fn raw_values_keep_their_exact_text() {
    let body =
        br#"{"payload": {"z":1, "a":12345678901234567890123,"dup":1,"dup":2}, "result": null}"#;
    let read = sample(body).expect("read");
    assert_eq!(
        read.payload.0.get(),
        r#"{"z":1, "a":12345678901234567890123,"dup":1,"dup":2}"#
    );
    // A result of null is a result, kept as sent.
    assert_eq!(
        read.result.map(|r| r.0.get().to_owned()).as_deref(),
        Some("null")
    );
}

#[test]
fn a_repeated_key_is_a_problem_naming_it_but_a_payload_keeps_its_own() {
    let body =
        br#"{"payload": {"a":1,"a":2}, "delay_ms": 1, "delay_ms": 2, "inner": {"x":1,"x":1}}"#;
    let named = named(sample(body));
    assert_eq!(named.len(), 2, "one message per field: {named:?}");
    assert_eq!(named[0].0, "delay_ms");
    assert!(named[0].1.contains("more than once"), "{named:?}");
    assert_eq!(named[1].0, "inner.x");
    assert!(named[1].1.contains("more than once"), "{named:?}");
}

#[test]
fn a_key_repeated_through_an_escape_is_still_repeated() {
    let body = br#"{"payload": 1, "pay\u006coad": 2}"#;
    assert_eq!(fields(sample(body)), ["payload"]);
}

#[test]
fn a_body_is_an_object_never_an_array() {
    // A derived struct would read its fields from an array in order.
    assert_eq!(fields(sample(br#"[1, null, null]"#)), ["body"]);
    assert_eq!(fields(sample(b" [] ")), ["body"]);
    assert!(matches!(sample(b"[1,"), Err(ApiError::Malformed(_))));
}

#[test]
fn a_number_out_of_any_range_is_the_field_s_problem() {
    let named = named(sample(
        br#"{"payload": 1, "priority": 1e400, "delay_ms": -1}"#,
    ));
    let fields: Vec<&str> = named.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["priority", "delay_ms"], "{named:?}");
    // Inside a payload it is the client's own JSON, kept as sent.
    let read = sample(br#"{"payload": [1e400, 123456789012345678901234567890]}"#).expect("read");
    assert_eq!(
        read.payload.0.get(),
        "[1e400, 123456789012345678901234567890]"
    );
}

/// A body with one required typed field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Needs {
    #[schema(inline)]
    lease_id: Text<1, 128>,
}

impl Check for Needs {}

#[test]
fn a_required_field_sent_as_null_is_required() {
    let Err(ApiError::Validation(errors)) = read::<Needs>(br#"{"lease_id": null}"#, &limits(64))
    else {
        panic!("null was taken for a lease id");
    };
    assert_eq!(
        (errors[0].field.as_str(), errors[0].message.as_str()),
        ("lease_id", "is required")
    );
    let given = read::<Needs>(br#"{"lease_id": "l-1"}"#, &limits(64)).expect("read");
    assert_eq!(given.lease_id.0, "l-1");
    // `payload` is a value, `null` included; an optional field sent as `null` is absent.
    let read = sample(br#"{"payload": null, "queues": null}"#).expect("read");
    assert_eq!(read.payload.0.get(), "null");
    assert!(read.queues.is_none());
}

#[test]
fn each_item_of_a_list_is_named_by_its_place() {
    let first = named(sample(br#"{"payload": 1, "queues": ["ok", "a:b", 7]}"#));
    let fields: Vec<&str> = first.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["queues[1]"],
        "the first bad item is named: {first:?}"
    );
    let too_many = named(sample(br#"{"payload": 1, "queues": ["a", "b", "c", "d"]}"#));
    assert_eq!(
        too_many,
        [("queues".to_owned(), "must list 1 to 3 items".to_owned())]
    );
}

#[test]
fn a_body_of_many_unknown_keys_names_at_most_the_first_hundred() {
    let keys: Vec<String> = (0..5_000).map(|n| format!(r#""k{n}": 1"#)).collect();
    let body = format!(r#"{{"payload": 1, {}}}"#, keys.join(", "));
    let named = named(sample(body.as_bytes()));
    assert_eq!(named.len(), PROBLEMS_MAX);
}

#[test]
fn every_problem_inside_an_object_is_named() {
    let body = br#"{"payload": 1, "inner": {"x": 9, "y": -1, "z": 0}}"#;
    assert_eq!(fields(sample(body)), ["inner.x", "inner.y", "inner.z"]);
    let body = br#"{"payload": 1, "inner": 3}"#;
    assert_eq!(fields(sample(body)), ["inner"]);
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
    assert!(read::<Sample>(at_limit.as_bytes(), &limits(3)).is_ok());
    let over = format!(
        r#"{{"payload": 1, "result": {}1{}}}"#,
        "[".repeat(4),
        "]".repeat(4)
    );
    let named = named(read::<Sample>(over.as_bytes(), &limits(3)));
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0].0, "result");
    assert!(named[0].1.contains("4 levels"), "{named:?}");
}

#[test]
fn a_too_deep_payload_is_named_with_every_other_problem() {
    let body = format!(
        r#"{{"payload": {}1{}, "priority": 5000}}"#,
        "[".repeat(4),
        "]".repeat(4)
    );
    let named = named(read::<Sample>(body.as_bytes(), &limits(3)));
    let fields: Vec<&str> = named.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["payload", "priority"], "{named:?}");
    assert!(named[0].1.contains("4 levels"), "{named:?}");
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
    let read = sample(br#"{"payload": 1, "priority": 2.0, "delay_ms": null, "urgent": true}"#)
        .expect("read");
    assert_eq!(read.priority.map(Int::get::<i64>), Some(2));
    assert!(read.delay_ms.is_none());
    assert_eq!(read.urgent.map(|f| f.0), Some(true));
    assert!(read.name.is_none() && read.inner.is_none());
    let read =
        sample(br#"{"payload": 1, "name": "abcde", "inner": {"x": 1, "y": 5.0}}"#).expect("read");
    assert_eq!(read.name.map(|n| n.0).as_deref(), Some("abcde"));
    let inner = read.inner.expect("inner");
    assert_eq!(
        (inner.x.map(Int::get::<i64>), inner.y.map(Int::get::<i64>)),
        (Some(1), Some(5))
    );
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
