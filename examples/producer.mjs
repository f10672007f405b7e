#!/usr/bin/env node
// Submit one task to taskgate and, with --wait, wait for its result (Node.js 18+, no
// dependencies):
//
//   node examples/producer.mjs --queue emails --payload '{"to": "ada@example.com"}' --wait 30000
//
// It sends an Idempotency-Key made once per task, so retrying the submit after a network error,
// a timeout or a 5xx can never create a second task: a repeat is answered with the first task.
// Prints the task id, then (with --wait) the result. Exit status: 0 completed (or submitted,
// without --wait), 1 dead or cancelled or still running at the end of the wait, 2 refused (4xx).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  options: {
    base: { type: "string", default: process.env.TASKGATE_URL ?? "http://127.0.0.1:8080" },
    key: { type: "string", default: process.env.TASKGATE_KEY },
    queue: { type: "string" },
    payload: { type: "string" },
    wait: { type: "string", default: "0" },
  },
});
if (!opts.queue || opts.payload === undefined) {
  console.error("usage: producer.mjs --queue NAME --payload JSON [--wait MS] [--base URL] [--key KEY]");
  process.exit(2);
}
const base = opts.base.replace(/\/+$/, "");

async function call(method, path, body, headers = {}) {
  const all = { "content-type": "application/json", ...headers };
  if (opts.key) all.authorization = `Bearer ${opts.key}`;
  const response = await fetch(base + path, {
    method,
    headers: all,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(70_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** Repeats `attempt` past network errors, 408, 429 and 5xx, with capped backoff. */
async function retrying(what, attempt, tries = 8) {
  let delay = 200;
  for (let n = 1; ; n++) {
    let problem;
    try {
      const answer = await attempt();
      if (answer.status !== 408 && answer.status !== 429 && answer.status < 500) return answer;
      problem = `${answer.status} ${answer.body.type ?? ""}`;
    } catch (error) {
      problem = error.cause?.code ?? error.message;
    }
    if (n === tries) throw new Error(`${what}: giving up after ${tries} tries: ${problem}`);
    console.error(`${what}: ${problem}; retrying in ${delay} ms`);
    await sleep(delay * (0.8 + Math.random() * 0.4));
    delay = Math.min(delay * 2, 5000);
  }
}

const path = `/v1/queues/${encodeURIComponent(opts.queue)}/tasks`;
const headers = { "idempotency-key": randomUUID() }; // one key for every try of this submit
const submitted = await retrying("submit", () => call("POST", path, { payload: JSON.parse(opts.payload) }, headers));
if (submitted.status !== 200 && submitted.status !== 201) {
  console.error(`submit refused: ${submitted.status} ${submitted.body.detail ?? JSON.stringify(submitted.body)}`);
  process.exit(2);
}
let task = submitted.body;
console.log(task.id);
if (Number(opts.wait) > 0) {
  const deadline = Date.now() + Number(opts.wait);
  const finished = () => ["completed", "dead", "cancelled"].includes(task.state);
  while (!finished() && Date.now() < deadline) {
    const waitMs = Math.min(60_000, Math.max(1, deadline - Date.now()));
    // A read is always safe to repeat.
    task = (await retrying("wait", () => call("GET", `${path}/${task.id}?wait_ms=${waitMs}`))).body;
  }
  if (task.state === "completed") console.log(JSON.stringify(task.result ?? null));
  else {
    console.error(`task ${task.id} is ${task.state}: ${task.last_error ?? ""}`);
    process.exitCode = 1;
  }
}
