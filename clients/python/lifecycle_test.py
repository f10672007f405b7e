"""The generated Python client (clients/generate) against a running taskgate: submit → lease →
heartbeat → ack → read the result, and fail → retry → dead. Run by tests/polyglot/clients.rs
with TASKGATE_URL, TASKGATE_KEY (an admin key) and TASKGATE_QUEUE set; exits non-zero on any
mismatch."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "generated"))

from taskgate_client import AuthenticatedClient  # noqa: E402
from taskgate_client.api.policy import patch_queue_policy  # noqa: E402
from taskgate_client.api.tasks import get_task, submit_task  # noqa: E402
from taskgate_client.api.workers import ack_task, fail_task, heartbeat_task, lease_tasks  # noqa: E402
from taskgate_client.models import (  # noqa: E402
    AckTaskRequest,
    BackoffRequest,
    FailTaskRequest,
    HeartbeatTaskRequest,
    LeaseList,
    LeaseTasksRequest,
    PolicyRequest,
    SubmitTaskRequest,
    Task,
)

client = AuthenticatedClient(base_url=os.environ["TASKGATE_URL"], token=os.environ["TASKGATE_KEY"])
queue = os.environ["TASKGATE_QUEUE"]


def expect(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def lease_one():
    """Leases one task, waiting for a retry's backoff to pass if need be."""
    answer = lease_tasks.sync_detailed(
        queue, client=client, body=LeaseTasksRequest(worker="python-client", wait_ms=5000)
    )
    expect("lease status", answer.status_code, 200)
    assert isinstance(answer.parsed, LeaseList)
    expect("leases", len(answer.parsed.leases), 1)
    return answer.parsed.leases[0]


# The happy path. `priority` and the other optional fields are left out.
submitted = submit_task.sync_detailed(
    queue, client=client, body=SubmitTaskRequest(payload={"to": "ada@example.com", "n": 1})
)
expect("submit status", submitted.status_code, 201)
task_id = submitted.parsed.id

lease = lease_one()
expect("leased task", lease.task.id, task_id)
expect("payload", lease.task.payload, {"to": "ada@example.com", "n": 1})
beat = heartbeat_task.sync_detailed(
    queue, task_id, client=client, body=HeartbeatTaskRequest(lease_id=lease.lease_id)
)
expect("heartbeat status", beat.status_code, 200)
if beat.parsed.expires_in_ms <= 0:
    sys.exit(f"heartbeat expires_in_ms {beat.parsed.expires_in_ms}")
acked = ack_task.sync_detailed(
    queue, task_id, client=client,
    body=AckTaskRequest(lease_id=lease.lease_id, result={"message_id": "<1@example.com>"}),
)
expect("ack status", acked.status_code, 200)
done = get_task.sync(queue, task_id, client=client)
assert isinstance(done, Task)
expect("state", done.state.value if hasattr(done.state, "value") else done.state, "completed")
expect("result", done.result, {"message_id": "<1@example.com>"})

# A lost lease is a 409 with problem type lease-lost, parsed as a Problem.
again = ack_task.sync_detailed(
    queue, task_id, client=client, body=AckTaskRequest(lease_id="0" * 32, result=None)
)
expect("stale ack status", again.status_code, 409)
expect("stale ack type", again.parsed.type_, "lease-lost")

# fail → retry → dead, with two attempts and a short backoff.
policy = patch_queue_policy.sync_detailed(
    queue, client=client,
    body=PolicyRequest(max_attempts=2, backoff=BackoffRequest(initial_ms=100, jitter=0.0)),
)
expect("policy status", policy.status_code, 200)
failing = submit_task.sync(queue, client=client, body=SubmitTaskRequest(payload={"fail": True}))
for attempt in (1, 2):
    lease = lease_one()
    expect("retried task", lease.task.id, failing.id)
    expect("attempt", lease.task.attempts, attempt)
    failed = fail_task.sync_detailed(
        queue, failing.id, client=client,
        body=FailTaskRequest(lease_id=lease.lease_id, error=f"boom {attempt}"),
    )
    expect("fail status", failed.status_code, 200)
    state = failed.parsed.state
    expect("state after fail", getattr(state, "value", state), "scheduled" if attempt == 1 else "dead")
dead = get_task.sync(queue, failing.id, client=client)
expect("dead errors", [e.message for e in dead.errors], ["boom 1", "boom 2"])
print("python client: lifecycle and fail → retry → dead passed")
