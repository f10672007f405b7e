//! Helpers of the task-group tests (`groups.rs`, `group_limits.rs`,
//! `tests/timed/group_bounds.rs`): submit a group's tasks in batches, write a group's limits,
//! and count a queue's leased tasks per group inside Redis, in one atomic look.

use std::collections::HashMap;

use deadpool_redis::redis;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{RedisServer, TestApp};

/// Submits `count` tasks of `group` (`None`: without a group) in batches of at most 1000,
/// their payloads `{"group": …, "n": 0..count}` so a test can tell their submit order.
pub async fn submit_group(app: &TestApp, queue: &str, group: Option<&str>, count: usize) {
    let path = format!("/v1/queues/{queue}/tasks:batch");
    let mut n = 0;
    while n < count {
        let tasks: Vec<Value> = (n..count.min(n + 1000))
            .map(|i| match group {
                Some(g) => json!({"payload": {"group": g, "n": i}, "group": g}),
                None => json!({"payload": {"group": null, "n": i}}),
            })
            .collect();
        n += tasks.len();
        let reply = app.post(&path, json!({ "tasks": tasks })).await;
        assert_eq!(reply.status, StatusCode::OK, "batch submit: {}", reply.body);
        let created = reply.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["status"] == 201)
            .count();
        assert_eq!(created, tasks_in(&reply.body), "{}", reply.body);
    }
}

fn tasks_in(body: &Value) -> usize {
    body["results"].as_array().map_or(0, Vec::len)
}

/// PATCHes a group's own limits, asserting the 200; returns the group view.
pub async fn patch_group(app: &TestApp, queue: &str, group: &str, body: Value) -> Value {
    let path = format!("/v1/queues/{queue}/groups/{group}");
    let reply = app.request(Method::PATCH, &path, Some(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "patch group: {}", reply.body);
    reply.body
}

/// The group a lease's task belongs to ("" for none).
pub fn group_of(lease: &Value) -> String {
    lease["task"]["group"].as_str().unwrap_or("").to_owned()
}

/// How many times each group occurs in `groups`.
pub fn tally(groups: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for g in groups {
        *counts.entry(g.clone()).or_insert(0) += 1;
    }
    counts
}

/// Counts the queue's leased tasks per group in one script, so the counts are one instant's.
const LEASED_BY_GROUP: &str = "local counts = {} \
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do \
      local raw = redis.call('HGET', KEYS[2], id) \
      local g = raw and cjson.decode(raw).group \
      if g then counts[g] = (counts[g] or 0) + 1 end \
    end \
    local flat = {} \
    for g, n in pairs(counts) do table.insert(flat, g) table.insert(flat, n) end \
    return flat";

/// How many of the queue's tasks each group has leased right now (read inside Redis).
pub async fn leased_by_group(
    redis: &RedisServer,
    app: &TestApp,
    queue: &str,
) -> HashMap<String, u64> {
    let key = |role: &str| format!("{}:{{q:{queue}}}:{role}", app.prefix);
    let (leased, meta) = (key("leased"), key("meta"));
    let flat: Vec<redis::Value> = redis
        .cmd(&["EVAL", LEASED_BY_GROUP, "2", &leased, &meta])
        .await;
    flat.chunks(2)
        .filter_map(|pair| match pair {
            [redis::Value::BulkString(g), redis::Value::Int(n)] => {
                Some((String::from_utf8_lossy(g).into_owned(), *n as u64))
            }
            _ => None,
        })
        .collect()
}
