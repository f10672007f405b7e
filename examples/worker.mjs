#!/usr/bin/env node
// A complete taskgate worker for Node.js 18 or newer, with no dependencies (built-in fetch).
// Copy it and put your work in `work()`.
//
//   node examples/worker.mjs --base http://127.0.0.1:8080 --queue emails --concurrency 4
//
// What it does, and why:
// * Leases only what it can work on now (--concurrency tasks at once), with a 2 s long poll,
//   so it neither busy-polls nor holds tasks it cannot start.
// * Heartbeats each task every third of its lease, timed by the server's `expires_in_ms`.
// * Retries only calls that are safe to repeat (a lease with the same request_id, an ack or a
//   fail with the same lease_id), on network errors, 408, 429 and 5xx, with capped backoff.
// * On 409 lease-lost it drops the work: the task belongs to someone else now.
// * SIGINT/SIGTERM: it leases no more, finishes the tasks it holds, acks them, and exits 0.
// * Sends its API key (--key or $TASKGATE_KEY); exits 2 at once if the server refuses it.
//
// Demo `work()`: echoes the payload as the result; a payload with "sleep_ms" sleeps first, one
// with "fail": true throws (the attempt fails and taskgate retries it).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

/** Your work goes here: return the result (any JSON value), or throw to fail the attempt. */
async function work(payload) {
  if (payload !== null && typeof payload === "object") {
    if (payload.sleep_ms) await sleep(payload.sleep_ms);
    if (payload.fail) throw new Error("the payload asked to fail");
  }
  return { echo: payload };
}

const { values: opts } = parseArgs({
  options: {
    base: { type: "string", default: process.env.TASKGATE_URL ?? "http://127.0.0.1:8080" },
    key: { type: "string", default: process.env.TASKGATE_KEY },
    queue: { type: "string" },
    name: { type: "string", default: `node-${process.pid}` },
    concurrency: { type: "string", default: "1" },
    help: { type: "boolean", default: false },
  },
});
if (opts.help || !opts.queue) {
  console.log("usage: worker.mjs --queue NAME [--base URL] [--key KEY] [--name NAME] [--concurrency N]");
  process.exit(opts.help ? 0 : 2);
}
const base = opts.base.replace(/\/+$/, "");
const queuePath = `/v1/queues/${encodeURIComponent(opts.queue)}`;
const concurrency = Math.max(1, Number(opts.concurrency));
const log = (line) => console.error(`${new Date().toISOString()} ${line}`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (!stopping) log(`${signal}: finishing current tasks, leasing no more`);
    stopping = true;
  });
}

/** One POST: { status, body }. Network errors throw. */
async function post(path, body) {
  const headers = { "content-type": "application/json" };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const response = await fetch(base + path, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(35_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** POSTs until an answer that is not a network error, 408, 429 or 5xx; null if `giveUp()`. */
async function retrying(what, path, body, { giveUp = () => false, maxDelay = 10_000 } = {}) {
  let delay = Math.min(100, maxDelay);
  for (;;) {
    let problem;
    try {
      const answer = await post(path, body);
      if (answer.status !== 408 && answer.status !== 429 && answer.status < 500) return answer;
      problem = `${answer.status} ${answer.body.type ?? ""}`;
    } catch (error) {
      problem = error.cause?.code ?? error.message;
    }
    if (giveUp()) return null;
    log(`${what}: ${problem}; retrying in ${Math.round(delay)} ms`);
    await sleep(delay * (0.8 + Math.random() * 0.4));
    delay = Math.min(delay * 2, maxDelay);
  }
}

/** Works on one leased task, heartbeating meanwhile, then acks or fails it. */
async function handle(lease) {
  const id = lease.task.id;
  const path = `${queuePath}/tasks/${id}`;
  let every = lease.expires_in_ms / 3;
  let done = false;
  let lost = false;
  let timer;
  const beat = async () => {
    const answer = await retrying(`heartbeat ${id}`, `${path}/heartbeat`, { lease_id: lease.lease_id }, {
      giveUp: () => done,
      maxDelay: Math.max(50, every * 0.3),
    });
    if (answer === null || done) return;
    if (answer.status === 409) {
      lost = true;
      log(`task ${id}: lease lost while working on it`);
      return;
    }
    if (answer.status === 200) every = answer.body.expires_in_ms / 3;
    timer = setTimeout(beat, every);
  };
  timer = setTimeout(beat, every);

  let verb;
  let body;
  try {
    body = { result: await work(lease.task.payload) };
    verb = "ack";
  } catch (error) {
    body = { error: String(error) };
    verb = "fail";
  } finally {
    done = true;
    clearTimeout(timer);
  }
  if (lost) return log(`task ${id}: lease lost; its work is not recorded`);
  const answer = await retrying(`${verb} ${id}`, `${path}/${verb}`, { ...body, lease_id: lease.lease_id });
  if (answer.status === 409) log(`task ${id}: lease lost; its work is not recorded`);
  else if (answer.status !== 200) log(`task ${id}: ${verb} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  else if (verb === "ack") log(`task ${id}: completed`);
  else log(`task ${id}: failed (${body.error}), now ${answer.body.state}`);
}

const running = new Set();
while (!stopping) {
  const free = concurrency - running.size;
  if (free === 0) {
    await Promise.race(running);
    continue;
  }
  // A fresh request_id per call: a retry of this call returns the leases it already granted.
  const request = { worker: opts.name, max_tasks: free, request_id: randomUUID(), wait_ms: 2000 };
  const answer = await retrying("lease", `${queuePath}/leases`, request, { giveUp: () => stopping });
  if (answer === null) break;
  if (answer.status === 401 || answer.status === 403) {
    log(`taskgate refused this worker (${answer.status} ${answer.body.type}): ${answer.body.detail}`);
    process.exitCode = 2;
    break;
  }
  if (answer.status !== 200) {
    log(`lease answered ${answer.status} ${JSON.stringify(answer.body)}`);
    await sleep(1000);
    continue;
  }
  for (const lease of answer.body.leases) {
    const job = handle(lease).finally(() => running.delete(job));
    running.add(job);
  }
}
await Promise.all(running);
log("worker stopped");
