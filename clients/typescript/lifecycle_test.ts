// The TypeScript client (openapi-typescript types from clients/generate, called through
// openapi-fetch) against a running taskgate: submit → lease → heartbeat → ack → read the
// result, and fail → retry → dead. Run by tests/polyglot/clients.rs with TASKGATE_URL,
// TASKGATE_KEY (an admin key) and TASKGATE_QUEUE set; exits non-zero on any mismatch.
// Compiling it (`tsc --noEmit` is part of the run) proves that callers can leave out optional
// fields that have defaults, such as `priority` and `max_tasks`.
import createClient from "openapi-fetch";
import type { paths } from "./generated/schema.js";

const client = createClient<paths>({
  baseUrl: process.env.TASKGATE_URL,
  headers: { authorization: `Bearer ${process.env.TASKGATE_KEY}` },
});
const queue = process.env.TASKGATE_QUEUE ?? "ts-client";
const path = { queue };

function expect(what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function leaseOne() {
  // No max_tasks: it is optional (default 1).
  const { data, response } = await client.POST("/v1/queues/{queue}/leases", {
    params: { path },
    body: { worker: "ts-client", wait_ms: 5000 },
  });
  expect("lease status", response.status, 200);
  const lease = data?.leases[0];
  if (!lease || data.leases.length !== 1) throw new Error(`expected one lease, got ${JSON.stringify(data)}`);
  return lease;
}

// The happy path; no priority, delay or lease_ms.
const submitted = await client.POST("/v1/queues/{queue}/tasks", {
  params: { path },
  body: { payload: { to: "ada@example.com", n: 1 } },
});
expect("submit status", submitted.response.status, 201);
const id = submitted.data!.id;

let lease = await leaseOne();
expect("leased task", lease.task.id, id);
expect("payload", lease.task.payload, { to: "ada@example.com", n: 1 });
const beat = await client.POST("/v1/queues/{queue}/tasks/{id}/heartbeat", {
  params: { path: { queue, id } },
  body: { lease_id: lease.lease_id },
});
expect("heartbeat status", beat.response.status, 200);
if (!(beat.data!.expires_in_ms > 0)) throw new Error("heartbeat gave no expires_in_ms");
const acked = await client.POST("/v1/queues/{queue}/tasks/{id}/ack", {
  params: { path: { queue, id } },
  body: { lease_id: lease.lease_id, result: { message_id: "<1@example.com>" } },
});
expect("ack status", acked.response.status, 200);
const done = await client.GET("/v1/queues/{queue}/tasks/{id}", { params: { path: { queue, id } } });
expect("state", done.data?.state, "completed");
expect("result", done.data?.result, { message_id: "<1@example.com>" });

// A lost lease: 409, with the problem document typed as the error.
const stale = await client.POST("/v1/queues/{queue}/tasks/{id}/ack", {
  params: { path: { queue, id } },
  body: { lease_id: "0".repeat(32) },
});
expect("stale ack status", stale.response.status, 409);
expect("stale ack type", stale.error?.type, "lease-lost");

// fail → retry → dead with two attempts and a short backoff.
const policy = await client.PATCH("/v1/queues/{queue}/policy", {
  params: { path },
  body: { max_attempts: 2, backoff: { initial_ms: 100, jitter: 0 } },
});
expect("policy status", policy.response.status, 200);
const failing = await client.POST("/v1/queues/{queue}/tasks", {
  params: { path },
  body: { payload: { fail: true } },
});
const failingId = failing.data!.id;
for (const attempt of [1, 2]) {
  lease = await leaseOne();
  expect("retried task", lease.task.id, failingId);
  expect("attempt", lease.task.attempts, attempt);
  const failed = await client.POST("/v1/queues/{queue}/tasks/{id}/fail", {
    params: { path: { queue, id: failingId } },
    body: { lease_id: lease.lease_id, error: `boom ${attempt}` },
  });
  expect("fail status", failed.response.status, 200);
  expect("state after fail", failed.data?.state, attempt === 1 ? "scheduled" : "dead");
}
const dead = await client.GET("/v1/queues/{queue}/tasks/{id}", {
  params: { path: { queue, id: failingId } },
});
expect("dead errors", dead.data?.errors.map((e) => e.message), ["boom 1", "boom 2"]);
console.log("typescript client: lifecycle and fail → retry → dead passed");
