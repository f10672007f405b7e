#!/usr/bin/env node
// A complete taskgate worker for Node.js 18 or newer, with no dependencies (built-in fetch).
// Copy it and put your work in `work()`.
//
//   node examples/worker.mjs --base http://127.0.0.1:8080 --queue emails --concurrency 4
//
// What it does, and why:
// * Leases only what it can work on now (--concurrency tasks at once), with a 2 s long poll,
//   so it neither busy-polls nor holds tasks it cannot start.
// * Heartbeats each task every third of its lease, timed by the server's `expires_in_ms`; each
//   heartbeat carries the task's latest progress (`report()` in `work()`), which the task's
//   page and event stream show.
// * Retries only calls that are safe to repeat (a lease with the same request_id, an ack or a
//   fail with the same lease_id), on network errors, 408, 429 and 5xx, with capped backoff.
// * On 409 lease-lost it drops the work: the task belongs to someone else now.
// * SIGINT/SIGTERM: it leases no more, finishes the tasks it holds, acks them, and exits 0.
// * Sends its API key (--key or $TASKGATE_KEY); exits 2 at once if the server refuses it.
// * Reads each leased task on its own: one it cannot read (JSON nested deeper than it handles)
//   is failed with a clear error, and the others leased with it are worked on. A result that
//   cannot be sent (too deep for JSON.stringify) or that the server refuses fails the task too.
//
// Demo `work()`: echoes the payload as the result; a payload with "sleep_ms" sleeps first, in ten
// steps, reporting {"done": n, "of": 10} after each; one with "fail": true throws (the attempt
// fails and taskgate retries it).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

/** Your work goes here: return the result (any JSON value), or throw to fail the attempt.
 * `report(progress)` (any JSON value, up to 4096 bytes) is sent with the next heartbeat. */
async function work(payload, report) {
  if (payload !== null && typeof payload === "object") {
    const steps = payload.sleep_ms ? 10 : 0;
    for (let done = 1; done <= steps; done++) {
      await sleep(payload.sleep_ms / steps);
      report({ done, of: steps });
    }
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

// Deepest nesting of arrays and objects this worker reads in a lease (the payload sits 2 levels
// down). JSON.parse goes deeper, but JSON.stringify (of a result echoing the payload) and code
// that walks a payload recursively run out of stack; taskgate refuses payloads deeper than 64
// unless its operator raised that.
const MAX_DEPTH = 500;

// A lease answer is split into its leases without parsing it whole, so one task that cannot be
// read leaves the others readable. The scan never recurses: it jumps from one string or bracket
// to the next.
const STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;
const STRUCTURE = /["[\]{}]/g;
const SPACE = /\s*/y;
const SCALAR_END = /[,\]}\s]|$/g;

function skip(regex, text, at) {
  regex.lastIndex = at;
  const found = regex.exec(text);
  if (found === null) throw new Error("the JSON text ends inside a value");
  return found;
}

/** Where the JSON value starting at `at` ends. */
function valueEnd(text, at) {
  if (text[at] === '"') return at + skip(STRING, text, at)[0].length;
  if (text[at] !== "[" && text[at] !== "{") return skip(SCALAR_END, text, at).index;
  let depth = 0;
  for (;;) {
    const found = skip(STRUCTURE, text, at);
    if (found[0] === '"') {
      at = valueEnd(text, found.index);
      continue;
    }
    depth += found[0] === "[" || found[0] === "{" ? 1 : -1;
    at = found.index + 1;
    if (depth === 0) return at;
  }
}

/** The members [key, text] of the object, or the items [null, text] of the array, at `at`. */
function items(text, at = 0) {
  const found = [];
  at += skip(SPACE, text, at)[0].length;
  const close = text[at] === "{" ? "}" : "]";
  at += 1;
  for (;;) {
    at += skip(SPACE, text, at)[0].length;
    if (text[at] === close) return found;
    if (text[at] === ",") {
      at += 1;
      continue;
    }
    let key = null;
    if (close === "}") {
      const end = valueEnd(text, at);
      key = JSON.parse(text.slice(at, end));
      at = end;
      at += skip(SPACE, text, at)[0].length + 1; // past the ':'
      at += skip(SPACE, text, at)[0].length;
    }
    const end = valueEnd(text, at);
    found.push([key, text.slice(at, end)]);
    at = end;
  }
}

/** The JSON text of member `name` of the object `text`, or undefined. */
const member = (text, name) => items(text).find(([key]) => key === name)?.[1];

/** How deeply `text` nests arrays and objects. */
function depthOf(text) {
  let deepest = 0;
  let level = 0;
  let at = 0;
  for (;;) {
    STRUCTURE.lastIndex = at;
    const found = STRUCTURE.exec(text);
    if (found === null) return deepest;
    if (found[0] === '"') {
      at = valueEnd(text, found.index);
      continue;
    }
    level += found[0] === "[" || found[0] === "{" ? 1 : -1;
    deepest = Math.max(deepest, level);
    at = found.index + 1;
  }
}

/** A lease (its JSON text) as a value; throws when this worker cannot read it. */
function readLease(text) {
  const nested = depthOf(text);
  if (nested > MAX_DEPTH) throw new Error(`it is nested ${nested} levels deep; this worker reads at most ${MAX_DEPTH}`);
  return JSON.parse(text);
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (!stopping) log(`${signal}: finishing current tasks, leasing no more`);
    stopping = true;
  });
}

/** One POST: { status, body, text }; a body that is not readable JSON is {}. Network errors throw. */
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
  let parsed = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    // Not JSON (a proxy's page, say): the status still says what happened.
  }
  return { status: response.status, body: parsed ?? {}, text };
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

/** Fails a leased task this worker cannot read, with a clear error, so it is retried (maybe by
 * another worker) or goes dead instead of waiting for its lease to run out. */
async function failUnreadable(text, why) {
  let leaseId;
  let id;
  try {
    leaseId = JSON.parse(member(text, "lease_id"));
    id = JSON.parse(member(member(text, "task"), "id"));
  } catch (error) {
    return log(`a lease could not be read, nor its ids (${error.message}): ${why}`);
  }
  const error = `this worker cannot read the task: ${why}`;
  log(`task ${id}: ${error}`);
  const answer = await retrying(`fail ${id}`, `${queuePath}/tasks/${id}/fail`, { lease_id: leaseId, error });
  if (answer.status !== 200) log(`task ${id}: fail answered ${answer.status} ${answer.text}`);
}

/** Works on one leased task, heartbeating meanwhile, then acks or fails it. */
async function handle(lease) {
  const id = lease.task.id;
  const path = `${queuePath}/tasks/${id}`;
  let every = lease.expires_in_ms / 3;
  let done = false;
  let lost = false;
  let timer;
  let progress; // the latest report, sent with the next heartbeat
  let sent;
  const beat = async () => {
    const body = { lease_id: lease.lease_id };
    const latest = progress;
    if (latest !== undefined && latest !== sent) body.progress = latest;
    const answer = await retrying(`heartbeat ${id}`, `${path}/heartbeat`, body, {
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
    if (answer.status === 200 || answer.status === 413) sent = latest; // a refused report is dropped
    if (answer.status === 413) log(`task ${id}: progress refused: ${answer.body.detail}`);
    timer = setTimeout(beat, every);
  };
  timer = setTimeout(beat, every);

  let verb;
  let body;
  try {
    body = { result: await work(lease.task.payload, (report) => (progress = report)) };
    JSON.stringify(body); // a result too deep to send fails the attempt here, not in a retry loop
    verb = "ack";
  } catch (error) {
    body = { error: String(error) };
    verb = "fail";
  } finally {
    done = true;
    clearTimeout(timer);
  }
  if (lost) return log(`task ${id}: lease lost; its work is not recorded`);
  let answer = await retrying(`${verb} ${id}`, `${path}/${verb}`, { ...body, lease_id: lease.lease_id });
  if (verb === "ack" && (answer.status === 413 || answer.status === 422)) {
    // The server refused the result (too large, nested too deep): fail the attempt, saying why.
    body = { error: `taskgate refused the result: ${answer.body.detail ?? answer.status}` };
    verb = "fail";
    log(`task ${id}: ${body.error}`);
    answer = await retrying(`${verb} ${id}`, `${path}/${verb}`, { ...body, lease_id: lease.lease_id });
  }
  if (answer.status === 409) log(`task ${id}: lease lost; its work is not recorded`);
  else if (answer.status !== 200) log(`task ${id}: ${verb} answered ${answer.status} ${answer.text}`);
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
  // Each lease is read on its own: one unreadable task is failed, the rest are worked on.
  for (const [, text] of items(member(answer.text, "leases") ?? "[]")) {
    let job;
    try {
      job = handle(readLease(text));
    } catch (error) {
      job = failUnreadable(text, error.message);
    }
    job = job.finally(() => running.delete(job));
    running.add(job);
  }
}
await Promise.all(running);
log("worker stopped");
