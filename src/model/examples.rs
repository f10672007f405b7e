//! The example values of the OpenAPI document, in one place, so that they agree with each other
//! and Swagger UI's "Try it out" works in order: the submit example puts a task in `emails`,
//! the lease example (on the same `emails` path example) leases it. Tests check every example
//! against its schema.

use serde_json::{Value, json};

const TASK_ID: &str = "019ab5e2-6f00-7c3a-9d2e-2b8f1c0e4a11";
const LEASE_ID: &str = "9f1c2b7e4d0a4b8f8e6c3a5d7b9e1f20";

pub fn submit_request() -> Value {
    json!({"payload": {"to": "ada@example.com", "template": "welcome"}, "priority": 10})
}

pub fn lease_request() -> Value {
    json!({"worker": "mailer-1", "max_tasks": 10, "lease_ms": 60000, "labels": {"region": "eu"}})
}

pub fn heartbeat_request() -> Value {
    json!({"lease_id": LEASE_ID, "lease_ms": 60000, "progress": {"step": "rendering", "done": 1, "of": 3}})
}

pub fn ack_request() -> Value {
    json!({"lease_id": LEASE_ID, "result": {"message_id": "<abc@example.com>"}})
}

pub fn fail_request() -> Value {
    json!({"lease_id": LEASE_ID, "error": "SMTP 451: try again later", "retry": true})
}

pub fn heartbeat_response() -> Value {
    json!({"expires_at": "2026-11-25T13:26:30.000Z", "expires_in_ms": 60000})
}

/// A task as the submit example creates it.
pub fn submitted_task() -> Value {
    json!({
        "id": TASK_ID,
        "queue": "emails",
        "state": "ready",
        "payload": {"to": "ada@example.com", "template": "welcome"},
        "priority": 10,
        "attempts": 0,
        "max_attempts": 5,
        "attempts_expired": 0,
        "attempts_failed": 0,
        "created_at": "2026-11-25T13:25:00.000Z",
        "run_at": "2026-11-25T13:25:00.000Z",
        "errors": []
    })
}

/// The same task once the lease example has leased it.
pub fn leased_task() -> Value {
    let mut task = submitted_task();
    task["state"] = json!("leased");
    task["attempts"] = json!(1);
    task["leased_until"] = json!("2026-11-25T13:26:00.000Z");
    task["worker"] = json!("mailer-1");
    task
}

/// The same task once acked with the ack example's result.
pub fn completed_task() -> Value {
    let mut task = submitted_task();
    task["state"] = json!("completed");
    task["attempts"] = json!(1);
    task["finished_at"] = json!("2026-11-25T13:25:02.512Z");
    task["worker"] = json!("mailer-1");
    task["result"] = json!({"message_id": "<abc@example.com>"});
    task
}

pub fn task_error() -> Value {
    json!({"attempt": 1, "at": "2026-11-25T13:25:01.250Z", "kind": "failed", "message": "SMTP 451: try again later"})
}

pub fn lease() -> Value {
    json!({
        "lease_id": LEASE_ID,
        "expires_at": "2026-11-25T13:26:00.000Z",
        "expires_in_ms": 60000,
        "attempt": 1,
        "task": leased_task()
    })
}

pub fn lease_list() -> Value {
    json!({"leases": [lease()]})
}

pub fn backoff() -> Value {
    json!({"initial_ms": 1000, "multiplier": 2.0, "max_ms": 3600000, "jitter": 0.2})
}

pub fn policy() -> Value {
    json!({
        "lease_ms": 60000,
        "max_attempts": 5,
        "backoff": backoff(),
        "max_payload_bytes": 1048576,
        "rate_limit": {"per_second": 10.0, "burst": 20},
        "max_in_flight": null,
        "paused": false,
        "weight": 1,
        "completed_ttl_ms": 86400000,
        "dead_ttl_ms": 604800000,
        "dedup_window_ms": 86400000,
        "strategy": "fair",
        "groups": {"max_in_flight": 2, "rate_limit": null, "ordered": false},
        "workers_window_ms": 300000
    })
}

pub fn queue_stats() -> Value {
    json!({
        "name": "emails",
        "counts": {"waiting": 0, "scheduled": 2, "ready": 40, "leased": 8, "completed": 1200, "dead": 3, "cancelled": 1, "quarantined": 0},
        "totals": {"submitted": 1254, "completed": 1200, "failed": 17, "dead": 3, "expired": 1, "debounced": 0},
        "oldest_ready_age_ms": 1520,
        "groups": {"ready": 12, "held": 2},
        "schedules": 1,
        "policy": policy()
    })
}

pub fn lease_across_request() -> Value {
    json!({"queues": ["emails", "sms"], "strategy": "weighted", "worker": "notifier-1", "max_tasks": 5})
}

pub fn policy_patch() -> Value {
    json!({"lease_ms": 60000, "rate_limit": {"per_second": 10, "burst": 20}, "backoff": {"jitter": 0.1}})
}

pub fn policy_view() -> Value {
    json!({
        "queue": "emails",
        "policy": policy(),
        "overrides": ["lease_ms", "rate_limit.per_second", "rate_limit.burst"],
        "version": 3,
        "updated_at": "2026-11-25T13:20:00.000Z",
        "updated_by": null
    })
}

pub fn queue_list() -> Value {
    json!({"queues": [queue_stats()], "next_cursor": null})
}

pub fn dead_task() -> Value {
    let mut task = submitted_task();
    task["state"] = json!("dead");
    task["attempts"] = json!(5);
    task["attempts_failed"] = json!(5);
    task["finished_at"] = json!("2026-11-25T14:02:11.000Z");
    task["worker"] = json!("mailer-1");
    task["last_error"] = json!("SMTP 550: mailbox unavailable");
    task["errors"] = json!([{"attempt": 5, "at": "2026-11-25T14:02:11.000Z", "kind": "failed", "message": "SMTP 550: mailbox unavailable"}]);
    task
}

pub fn dead_page() -> Value {
    json!({"tasks": [dead_task()], "next_cursor": null})
}

pub fn redrive_request() -> Value {
    json!({"ids": [TASK_ID]})
}

pub fn batch_request() -> Value {
    json!({"tasks": [
        {"payload": {"to": "ada@example.com"}, "idempotency_key": "signup-1041"},
        {"payload": {"to": "bob@example.com"}, "priority": 5, "idempotency_key": "signup-1042"}
    ]})
}

pub fn batch_response() -> Value {
    json!({"results": [
        {"index": 0, "status": 201, "task": submitted_task()},
        {"index": 1, "status": 422, "error": {
            "type": "validation", "title": "Invalid request", "status": 422,
            "detail": "1 field is invalid",
            "errors": [{"field": "priority", "message": "must be a whole number from -1000 to 1000"}]
        }}
    ]})
}

pub fn ack_batch_request() -> Value {
    json!({"acks": [
        {"id": TASK_ID, "lease_id": LEASE_ID, "result": {"message_id": "<abc@example.com>"}},
        {"id": "019ab5e2-7a10-7c3a-9d2e-2b8f1c0e4a12", "lease_id": "3c8e1a2f9b7d4e6a8c0b2d4f6e8a1c3e"}
    ]})
}

pub fn ack_batch_response() -> Value {
    json!({"results": [
        {"index": 0, "status": 200, "task": completed_task()},
        {"index": 1, "status": 409, "error": {
            "type": "lease-lost", "title": "Lease lost", "status": 409,
            "detail": "this lease is no longer the task's current lease: it expired, or the task was leased again, cancelled or finished; your work on it was not recorded"
        }}
    ]})
}

pub fn group_view() -> Value {
    json!({
        "queue": "emails",
        "group": "tenant-42",
        "counts": {"ready": 120, "scheduled": 3, "leased": 2},
        "in_flight": 2,
        "tokens": null,
        "state": "held",
        "held_by": "max_in_flight",
        "limits": {"weight": 3, "max_in_flight": 2, "rate_limit": null, "paused": false, "ordered": false},
        "overrides": ["weight"],
        "version": 1764896957123u64,
        "updated_at": "2026-12-05T01:09:17.123Z",
        "updated_by": "ops"
    })
}

pub fn group_page() -> Value {
    json!({"groups": [group_view()], "next_cursor": null})
}

pub fn group_patch() -> Value {
    json!({"weight": 3, "paused": false})
}

/// The explanation of a ready task held by its group's limit, with one task ahead of it.
pub fn explanation() -> Value {
    json!({
        "state": "ready",
        "runnable_now": false,
        "reasons": [
            {"code": "group_max_in_flight", "message": "its group tenant-a has 2 of its max_in_flight 2 tasks leased", "group": "tenant-a", "in_flight": 2, "limit": 2},
            {"code": "behind", "message": "1 task of its group (other groups' tasks may come between them) will be leased before it", "ahead": 1, "exact": true, "scope": "group"}
        ]
    })
}

/// Two minutes of a queue's history (a real answer has 60 or 1440 points).
pub fn queue_history() -> Value {
    json!({
        "queue": "emails",
        "window": "1h",
        "step_ms": 60000,
        "points": [
            {"at": "2026-11-25T13:24:00.000Z", "submitted": 120, "completed": 112, "failed": 3, "dead": 1, "expired": 0, "backlog": 14, "in_flight": 8},
            {"at": "2026-11-25T13:25:00.000Z", "submitted": 95, "completed": 101, "failed": 1, "dead": 0, "expired": 0, "backlog": 9, "in_flight": 7}
        ]
    })
}

/// The workers of the `emails` queue.
pub fn queue_workers() -> Value {
    json!({
        "queue": "emails",
        "window_ms": 300000,
        "workers": [
            {"name": "mailer-1", "last_seen": "2026-11-25T13:25:01.250Z", "leases_held": 2, "leased": 140, "completed": 136, "failed": 2, "labels": {"region": "eu"}}
        ],
        "anonymous": null,
        "unlisted": 0
    })
}

/// Every worker, across queues.
pub fn workers() -> Value {
    json!({
        "window_ms": 300000,
        "workers": [
            {"name": "mailer-1", "queues": ["emails"], "last_seen": "2026-11-25T13:25:01.250Z", "leases_held": 2, "leased": 140, "completed": 136, "failed": 2, "labels": {"region": "eu"}}
        ]
    })
}

/// A schedule's body: a digest every night at 02:30 Berlin time.
pub fn schedule_request() -> Value {
    json!({
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "task": schedule_task(),
        "catch_up": "latest"
    })
}

/// A schedule's body: every hour.
pub fn schedule_every_request() -> Value {
    json!({"every_ms": 3600000, "task": schedule_task(), "catch_up": "latest"})
}

/// The task a schedule submits.
pub fn schedule_task() -> Value {
    json!({"payload": {"report": "daily-digest"}, "priority": 5, "max_attempts": 3})
}

/// A schedule, as read.
pub fn schedule_view() -> Value {
    json!({
        "queue": "emails",
        "name": "nightly-digest",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "task": schedule_task(),
        "paused": false,
        "catch_up": "latest",
        "status": "active",
        "next_runs": ["2026-11-26T01:30:00.000Z", "2026-11-27T01:30:00.000Z",
            "2026-11-28T01:30:00.000Z", "2026-11-29T01:30:00.000Z", "2026-11-30T01:30:00.000Z"],
        "last_runs": [{"at": "2026-11-25T01:30:00.000Z", "kind": "tick",
            "task_id": "019abcde-f012-7345-8678-9abcdef01234", "state": "completed", "error": null}],
        "runs": {"fired": 12, "triggered": 1, "missed": 0, "failed": 0},
        "version": 1764896957123u64,
        "created_at": "2026-11-13T09:00:00.000Z",
        "updated_at": "2026-11-20T09:00:00.000Z",
        "updated_by": "ops"
    })
}

pub fn flow() -> Value {
    json!({
        "id": "thumbnails~01936f1e-6b1f-7c3a-9d2e-4f5a6b7c8d9e",
        "created_at": "2026-11-25T18:00:00.000Z",
        "finished": false,
        "tasks": [
            {"ref": "thumb-1", "queue": "thumbnails", "id": "01936f1e-6b20-7c3a-9d2e-4f5a6b7c8d01", "state": "completed"},
            {"ref": "thumb-2", "queue": "thumbnails", "id": "01936f1e-6b20-7c3a-9d2e-4f5a6b7c8d02", "state": "leased"},
            {"ref": "zip", "queue": "archives", "id": "01936f1e-6b20-7c3a-9d2e-4f5a6b7c8d03", "state": "waiting"}
        ]
    })
}

pub fn flow_request() -> Value {
    json!({
        "tasks": [
            {"ref": "thumb-1", "queue": "thumbnails", "payload": {"image": "a.png"}},
            {"ref": "thumb-2", "queue": "thumbnails", "payload": {"image": "b.png"}},
            {"ref": "zip", "queue": "archives", "payload": {"name": "thumbs.zip"},
             "depends_on": ["thumb-1", "thumb-2"]}
        ]
    })
}
