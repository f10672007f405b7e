//! `GET /v1/queues/{queue}/tasks?state=…`: a page of one state's tasks in that state's order,
//! pages chained by `next_cursor` with nothing skipped or repeated, and bad input refused.

use serde_json::{Value, json};

use crate::harness::{TestApp, queue};

/// Every page of `state`, following `next_cursor`; the payloads' `n`s in the order listed.
async fn all_pages(app: &TestApp, q: &str, state: &str, limit: u32) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/queues/{q}/tasks?state={state}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let tasks = reply.body["tasks"].as_array().expect("tasks");
        assert!(tasks.len() <= limit as usize);
        for task in tasks {
            assert_eq!(task["state"], state, "{task}");
            seen.push(task["payload"]["n"].as_i64().expect("n"));
        }
        match &reply.body["next_cursor"] {
            Value::String(next) => {
                assert!(query_safe(next), "a cursor to paste as it is: {next:?}");
                cursor = Some(next.clone());
            }
            _ => return seen,
        }
    }
}

/// Whether `text` goes into a query string as it is (RFC 3986 unreserved, `:` and `@`).
fn query_safe(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~:@".contains(&b))
}

#[tokio::test]
async fn ready_tasks_are_listed_in_lease_order_across_pages() {
    let app = TestApp::start().await;
    let q = queue("list-ready");
    // Priorities 0, 1, 2, 0, 1, 2, …: lease order is by priority, then by arrival.
    for n in 0..9 {
        app.submit(&q, json!({"payload": {"n": n}, "priority": n % 3}))
            .await;
    }
    let listed = all_pages(&app, &q, "ready", 2).await;
    assert_eq!(listed, vec![2, 5, 8, 1, 4, 7, 0, 3, 6]);
    // The lease order is the listed order.
    let first = app.lease_one(&q).await;
    assert_eq!(first["task"]["payload"]["n"], 2);
}

/// Ready tasks without a group come first, in lease order, then each group's in its own order
/// by group name; the cursors of grouped tasks page through them too, pasted as they are.
#[tokio::test]
async fn grouped_ready_tasks_page_after_the_ungrouped_ones() {
    let app = TestApp::start().await;
    let q = queue("list-ready-groups");
    for n in 0..6 {
        let group = ["b", "a", ""][n % 3];
        let task = match group {
            "" => json!({"payload": {"n": n}}),
            g => json!({"payload": {"n": n}, "group": g}),
        };
        app.submit(&q, task).await;
    }
    assert_eq!(
        all_pages(&app, &q, "ready", 1).await,
        vec![2, 5, 1, 4, 0, 3]
    );
}

/// Ready tasks with requirements are listed too, one page at a time, after the others: those
/// without a group by requirement set, those in a group in their group's order; every cursor
/// goes into a query string as it is.
#[tokio::test]
async fn ready_tasks_with_requirements_page_through_too() {
    let app = TestApp::start().await;
    let q = queue("list-ready-requires");
    for n in 0..8 {
        let mut task = json!({"payload": {"n": n}});
        if n % 2 == 1 {
            task["requires"] = json!({"zone": "eu:1", "gpu": "a100"});
        }
        if n >= 4 {
            task["group"] = json!("g");
        }
        app.submit(&q, task).await;
    }
    assert_eq!(
        all_pages(&app, &q, "ready", 1).await,
        vec![0, 2, 4, 5, 6, 7, 1, 3]
    );
    assert_eq!(
        all_pages(&app, &q, "ready", 3).await,
        vec![0, 2, 4, 5, 6, 7, 1, 3]
    );
}

#[tokio::test]
async fn each_state_lists_its_own_tasks() {
    let app = TestApp::start().await;
    let q = queue("list-states");
    for n in 0..4 {
        app.submit(&q, json!({"payload": {"n": n}})).await;
    }
    app.submit(&q, json!({"payload": {"n": 10}, "delay_ms": 60000}))
        .await;
    let leased = app.lease_one(&q).await; // n 0
    let acked = app.lease_one(&q).await; // n 1
    let reply = app.worker_call(&acked, "ack", json!({})).await;
    assert_eq!(reply.status, 200);
    let dead = app.lease_one(&q).await; // n 2
    let reply = app
        .worker_call(&dead, "fail", json!({"error": "no", "retry": false}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(all_pages(&app, &q, "ready", 50).await, vec![3]);
    assert_eq!(all_pages(&app, &q, "scheduled", 50).await, vec![10]);
    assert_eq!(all_pages(&app, &q, "leased", 50).await, vec![0]);
    assert_eq!(all_pages(&app, &q, "completed", 50).await, vec![1]);
    assert_eq!(all_pages(&app, &q, "dead", 50).await, vec![2]);
    assert!(all_pages(&app, &q, "cancelled", 50).await.is_empty());
    assert_eq!(leased["task"]["payload"]["n"], 0);
    // The dead-letter listing is the same page.
    let dead_page = app.get(&format!("/v1/queues/{q}/dead")).await;
    assert_eq!(dead_page.body["tasks"][0]["payload"]["n"], 2);
}

#[tokio::test]
async fn a_bad_state_limit_or_cursor_is_a_problem_naming_it() {
    let app = TestApp::start().await;
    let q = queue("list-bad");
    for (query, field) in [
        ("", "state"),
        ("state=running", "state"),
        ("state=ready&limit=0", "limit"),
        ("state=ready&cursor=12_nope", "cursor"),
        (
            "state=ready&cursor=1_0123456789abcdeX:01a218b9-67c7-75c3-867e-618ff9eaf7f1",
            "cursor",
        ),
        ("state=ready&colour=red", "colour"),
    ] {
        let reply = app.get(&format!("/v1/queues/{q}/tasks?{query}")).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{query}: {}",
            reply.body
        );
    }
}

/// A record the scripts cannot read (another version's, or corrupted) is left out of a
/// listing instead of failing it; the rest of the page is served.
#[tokio::test]
async fn an_unreadable_record_is_left_out_of_a_listing() {
    let app = TestApp::start().await;
    let q = queue("list-corrupt");
    let mut ids = Vec::new();
    for n in 0..3 {
        let task = app.submit(&q, json!({"payload": {"n": n}})).await;
        ids.push(task["id"].as_str().expect("id").to_owned());
    }
    let meta = format!("{}:{{q:{q}}}:meta", app.prefix);
    let _: i64 = crate::harness::RedisServer::shared()
        .cmd(&["HSET", &meta, &ids[1], "{not json"])
        .await;
    assert_eq!(all_pages(&app, &q, "ready", 50).await, vec![0, 2]);
}

/// Tasks per state in the paging test, and how many of them are held back to be added while
/// paging.
const SAME_SCORE_TASKS: usize = 1000;
const ADDED_WHILE_PAGING: usize = 100;
/// The score they all share: 2200-01-01 in ms (a run time, lease deadline or purge time).
const SAME_SCORE_AT: &str = "7258118400000";

/// Fills `q` with `n` tasks in `state` (each state reached the way the API reaches it).
async fn fill(app: &TestApp, q: &str, state: &str, n: usize) {
    let long_lease = json!({"max_tasks": 100, "lease_ms": 3_600_000});
    for chunk in 0..n.div_ceil(100) {
        let tasks: Vec<Value> = (0..100.min(n - chunk * 100))
            .map(|i| match state {
                "scheduled" => json!({"payload": i, "run_at": "2200-01-01T00:00:00Z"}),
                "dead" => json!({"payload": i, "max_attempts": 1}),
                _ => json!({"payload": i}),
            })
            .collect();
        let reply = app
            .post(
                &format!("/v1/queues/{q}/tasks:batch"),
                json!({"tasks": tasks}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if matches!(state, "leased" | "completed" | "dead") {
            let lease = match state {
                "dead" => json!({"max_tasks": 100, "lease_ms": 1000}),
                _ => long_lease.clone(),
            };
            let leases = app.lease(q, lease).await;
            assert_eq!(leases.len(), tasks.len());
            if state == "completed" {
                let acks: Vec<Value> = leases
                    .iter()
                    .map(|l| json!({"id": l["task"]["id"], "lease_id": l["lease_id"]}))
                    .collect();
                let reply = app
                    .post(&format!("/v1/queues/{q}/acks"), json!({"acks": acks}))
                    .await;
                assert_eq!(reply.status, 200, "{}", reply.body);
            }
        }
    }
    if state == "cancelled" {
        let ready = crate::harness::RedisServer::shared()
            .cmd::<Vec<String>>(&[
                "ZRANGE",
                &format!("{}:{{q:{q}}}:ready", app.prefix),
                "0",
                "-1",
            ])
            .await;
        for chunk in ready.chunks(100) {
            let cancels = chunk.iter().map(|member| async move {
                let id = member.split_once(':').map_or(member.as_str(), |(_, id)| id);
                app.delete(&format!("/v1/queues/{q}/tasks/{id}")).await
            });
            for reply in futures_util::future::join_all(cancels).await {
                assert_eq!(reply.status, 200, "{}", reply.body);
            }
        }
    }
    // Expired leases of single-attempt tasks go dead by the reaper's sweep.
    let counted = |stats: &Value| stats["counts"][state].as_u64() == Some(n as u64);
    crate::harness::eventually(&format!("{n} {state} tasks"), || async {
        counted(&app.queue_stats(q).await).then_some(())
    })
    .await;
}

/// Paging through 1,000 tasks that share one score, in every state that has a listing, with
/// members removed and added between pages: no task is listed twice, none that stayed is
/// missed, none removed before the page reached it appears, and what is added after the cursor's
/// position is listed while what is added before it is not. (The listing used to resume by
/// score alone and stopped after `limit + 100` tasks of one score.)
#[tokio::test]
async fn a_thousand_tasks_of_one_score_page_through_in_every_state_while_tasks_come_and_go() {
    let app = TestApp::start().await;
    let redis = crate::harness::RedisServer::shared();
    for state in [
        "ready",
        "scheduled",
        "leased",
        "completed",
        "dead",
        "cancelled",
    ] {
        let q = queue(&format!("list-same-{state}"));
        fill(&app, &q, state, SAME_SCORE_TASKS + ADDED_WHILE_PAGING).await;
        let key = format!("{}:{{q:{q}}}:{state}", app.prefix);
        // One score for every member, as many tasks finished in one script would have: a time
        // far ahead, so no sweep promotes, reclaims or purges them meanwhile.
        const SAME_SCORE: &str = "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do \
            redis.call('ZADD', KEYS[1], 'XX', ARGV[1], m) end return 1";
        let _: i64 = redis
            .cmd(&["EVAL", SAME_SCORE, "1", &key, SAME_SCORE_AT])
            .await;
        let members: Vec<String> = redis.cmd(&["ZRANGE", &key, "0", "-1"]).await;
        // Held back now, added two at a time while paging.
        let (mut held, mut present) = (Vec::new(), Vec::new());
        for (n, member) in members.into_iter().enumerate() {
            if n % 11 == 5 {
                held.push(member)
            } else {
                present.push(member)
            }
        }
        let _: i64 = redis
            .cmd(&[&["ZREM", key.as_str()][..], &str_refs(&held)].concat())
            .await;
        let id_of = |member: &str| member.rsplit(':').next().unwrap_or(member).to_owned();
        let (mut listed, mut removed, mut behind) = (Vec::new(), Vec::new(), Vec::new());
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/queues/{q}/tasks?state={state}&limit=50");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let reply = app.get(&path).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            for task in reply.body["tasks"].as_array().expect("tasks") {
                listed.push(task["id"].as_str().expect("a task id").to_owned());
            }
            let Some(next) = reply.body["next_cursor"].as_str() else {
                break;
            };
            cursor = Some(next.to_owned());
            // The cursor's own member leaves, and so does the next one the paging would reach.
            let at = next.split_once('_').expect("score_member").1.to_owned();
            let ahead = present.iter().find(|m| m.as_str() > at.as_str()).cloned();
            for gone in [Some(at.clone()), ahead.clone()].into_iter().flatten() {
                let _: i64 = redis.cmd(&["ZREM", &key, &gone]).await;
                present.retain(|m| *m != gone);
            }
            removed.extend(ahead.map(|m| id_of(&m)));
            // Two come (back): one ahead of the cursor's position must be listed, one behind it
            // must not be.
            for added in held.drain(..held.len().min(2)) {
                let _: i64 = redis.cmd(&["ZADD", &key, SAME_SCORE_AT, &added]).await;
                if added > at {
                    present.push(added);
                } else {
                    behind.push(id_of(&added));
                }
            }
            present.sort();
        }
        let unique: std::collections::HashSet<&String> = listed.iter().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "{state}: a task was listed twice"
        );
        assert!(
            listed.len() > SAME_SCORE_TASKS - ADDED_WHILE_PAGING,
            "{state}: {}",
            listed.len()
        );
        for member in &present {
            let id = id_of(member);
            assert!(unique.contains(&id), "{state}: {member} was never listed");
        }
        for id in removed.iter().chain(&behind) {
            assert!(
                !unique.contains(id),
                "{state}: {id} was listed though the page had passed it or it had gone"
            );
        }
    }
}

/// `&str`s of a list of `String`s, for a command's arguments.
fn str_refs(items: &[String]) -> Vec<&str> {
    items.iter().map(String::as_str).collect()
}
