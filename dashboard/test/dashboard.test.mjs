// The dashboard in a real headless Chromium (Debian's, driven by playwright-core), against a
// running taskgate: load it, see a queue appear after a submit, pause and resume it, edit its
// policy (If-Match, and the 412 when someone else changed it first), see its history charts
// drawn from the served history, pause, resume and edit a
// task group from its Groups table, pause, resume, run and edit a schedule from its Schedules
// table, redrive a dead task and
// purge one, submit from the form and follow that task (and its worker's progress) to
// `completed` over its event stream, follow a flow on its page (a task's parents and results
// on the task's page) and cancel it; and a real EventSource hears a `progress` event.
// Takes a screenshot of each page, and checks that every API call the dashboard made is an
// operation of the OpenAPI document. Run by tests/polyglot/dashboard.rs with TASKGATE_URL,
// TASKGATE_ADMIN_KEY, TASKGATE_WORKER_KEY, TASKGATE_QUEUE, SCREENSHOT_DIR and TASKGATE_OPEN_URL
// (a second server, on the same Redis, that requires no key) set.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.TASKGATE_URL;
const adminKey = process.env.TASKGATE_ADMIN_KEY;
const workerKey = process.env.TASKGATE_WORKER_KEY;
const queue = process.env.TASKGATE_QUEUE;
const shots = process.env.SCREENSHOT_DIR;
mkdirSync(shots, { recursive: true });

/** The API, called from the test (as a producer, worker or operator elsewhere would). */
async function api(method, path, body, key = adminKey) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const qpath = `/v1/queues/${queue}`;

function check(what, ok, detail = "") {
  if (!ok) throw new Error(`${what} ${detail}`);
  console.log(`ok: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  page.on("dialog", (dialog) => dialog.accept());
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  // The browser logs every non-2xx answer as a console error; those the test expects (the 401
  // before a key is entered, the 412 of a stale save) are shown on the page instead. Anything
  // else logged as an error, and any 5xx, fails the test.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      failures.push(`console error: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 500) failures.push(`${response.status()} from ${response.url()}`);
  });
  // Every request the page makes to the server, as "METHOD /path".
  const calls = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === new URL(base).origin) calls.push([request.method(), url.pathname]);
  });

  // Load it, enter the key.
  await page.goto(`${base}/ui/`);
  await page.getByText("enter an API key").waitFor();
  await page.fill('[data-testid="api-key"]', adminKey);
  await page.click('form.key button');

  // A queue appears after a submit.
  const first = await api("POST", `${qpath}/tasks`, { payload: { n: 1 } });
  await page.locator(`tr[data-queue="${queue}"]`).waitFor();
  await page.locator(`tr[data-queue="${queue}"] [data-count="ready"]`, { hasText: "1" }).waitFor();
  await page.screenshot({ path: `${shots}/1-queues.png`, fullPage: true });
  check("the queue appears after a submit", true);

  // Pause, then resume.
  await page.click(`tr[data-queue="${queue}"] a`);
  await page.click('[data-testid="pause"]');
  await page.locator('[data-testid="paused"]').waitFor();
  check("pause", (await api("GET", `${qpath}/policy`)).policy.paused === true);
  const leasedWhilePaused = await api("POST", `${qpath}/leases`, { max_tasks: 1 }, workerKey);
  check("a paused queue leases nothing", leasedWhilePaused.leases.length === 0);
  await page.click('[data-testid="resume"]');
  await page.locator('[data-testid="pause"]').waitFor();
  check("resume", (await api("GET", `${qpath}/policy`)).policy.paused === false);

  // Policy: save with If-Match; then a change by someone else meanwhile is a 412, shown.
  const editor = page.locator('[data-testid="policy-editor"]');
  await editor.fill(JSON.stringify({ lease_ms: 45000, max_attempts: 3 }));
  await page.click('[data-testid="policy-save"]');
  await page.getByText("Saved.").waitFor();
  const saved = await api("GET", `${qpath}/policy`);
  check("policy saved", saved.policy.lease_ms === 45000 && saved.policy.max_attempts === 3, JSON.stringify(saved));
  await api("PATCH", `${qpath}/policy`, { weight: 2 });
  await editor.fill(JSON.stringify({ lease_ms: 50000 }));
  await page.click('[data-testid="policy-save"]');
  await page.getByText("Someone changed this policy meanwhile").waitFor();
  const kept = await api("GET", `${qpath}/policy`);
  check("a stale save changes nothing", kept.policy.lease_ms === 45000 && kept.policy.weight === 2, JSON.stringify(kept));
  // Groups: a grouped task shows in the Groups table; pause and resume one group from it;
  // edit its weight (saved with If-Match).
  const grouped = await api("POST", `${qpath}/tasks`, { payload: { n: 2 }, group: "tenant-a" });
  const groupRow = page.locator('tr[data-group="tenant-a"]');
  await groupRow.waitFor();
  await groupRow.locator('[data-testid="group-pause"]').click();
  await groupRow.locator('[data-group-state="held"]').waitFor();
  check("pause a group", (await api("GET", `${qpath}/groups/tenant-a`)).limits.paused === true);
  await groupRow.locator('[data-testid="group-resume"]').click();
  await groupRow.locator('[data-group-state="turns"]').waitFor();
  check("resume a group", (await api("GET", `${qpath}/groups/tenant-a`)).limits.paused === false);
  await groupRow.locator('[data-testid="group-edit"]').click();
  await page.locator('[data-testid="group-editor"]').fill(JSON.stringify({ weight: 4 }));
  await page.click('[data-testid="group-save"]');
  await page.locator('[data-testid="group-editor"]').waitFor({ state: "detached" });
  const group = await api("GET", `${qpath}/groups/tenant-a`);
  check("a group's weight saved", group.limits.weight === 4 && group.overrides.join() === "weight", JSON.stringify(group));
  await api("DELETE", `${qpath}/tasks/${grouped.id}`); // out of the way of the steps below
  // Schedules: one made over the API shows in the Schedules table; pause and resume it, run it
  // now, see that run among its last runs, and edit it (saved with If-Match).
  await api("PUT", `${qpath}/schedules/ui-daily`, { cron: "0 6 * * *", timezone: "Europe/Berlin", task: { payload: { report: "ui" } } });
  const scheduleRow = page.locator('tr[data-schedule="ui-daily"]');
  await scheduleRow.waitFor();
  await scheduleRow.locator('[data-testid="schedule-pause"]').click();
  await scheduleRow.locator('[data-schedule-status="paused"]').waitFor();
  check("pause a schedule", (await api("GET", `${qpath}/schedules/ui-daily`)).paused === true);
  await scheduleRow.locator('[data-testid="schedule-resume"]').click();
  await scheduleRow.locator('[data-schedule-status="active"]').waitFor();
  await scheduleRow.locator('[data-testid="schedule-trigger"]').click();
  await scheduleRow.locator('[data-testid="schedule-open"]').click();
  await page.locator('[data-testid="schedule-runs"] tr', { hasText: "trigger" }).waitFor();
  const ran = await api("GET", `${qpath}/schedules/ui-daily`);
  check("run a schedule now", ran.runs.triggered === 1 && ran.last_runs[0].kind === "trigger", JSON.stringify(ran));
  await api("DELETE", `${qpath}/tasks/${ran.last_runs[0].task_id}`); // out of the way below
  await page.locator('[data-testid="schedule-editor"]').fill(JSON.stringify({ cron: "0 7 * * *", timezone: "Europe/Berlin", task: { payload: { report: "ui" } } }));
  await page.click('[data-testid="schedule-save"]');
  await page.locator('[data-testid="schedule-editor"]').waitFor({ state: "detached" });
  const edited = await api("GET", `${qpath}/schedules/ui-daily`);
  check("a schedule's cron saved", edited.cron === "0 7 * * *" && edited.version > ran.version, JSON.stringify(edited));
  await page.screenshot({ path: `${shots}/3b-schedules.png`, fullPage: true });
  await api("DELETE", `${qpath}/schedules/ui-daily`);
  // The charts are drawn from the served history: as many points, the same sums.
  const served = await api("GET", `${qpath}/history?window=1h`);
  const servedSubmitted = served.points.reduce((sum, p) => sum + p.submitted, 0);
  await page.click('[data-window="1h"]'); // drawn anew from now on
  const throughput = page.locator(`[data-testid="chart-throughput"][data-sum-submitted="${servedSubmitted}"]`);
  await throughput.waitFor();
  const drawn = await throughput.evaluate((figure) => ({
    points: Number(figure.dataset.points),
    submitted: Number(figure.getAttribute("data-sum-submitted")),
    lines: figure.querySelectorAll("[data-series]").length,
  }));
  check("the throughput chart has a point per minute", drawn.points === served.points.length && drawn.points === 60, JSON.stringify(drawn));
  check("the throughput chart draws the served counts", drawn.submitted === servedSubmitted && servedSubmitted > 0 && drawn.lines >= 2, `${JSON.stringify(drawn)} served ${servedSubmitted}`);
  // Attached, not visible: a flat line (an unchanged backlog) has no height, and Playwright
  // counts a box of no height as hidden.
  await page.locator('[data-testid="chart-backlog"] [data-series="backlog"]').first().waitFor({ state: "attached" });
  await page.click('[data-window="24h"]');
  await page.locator('[data-testid="chart-throughput"][data-points="1440"]').waitFor();
  check("the day's charts", true);
  await page.click('[data-window="1h"]');
  await page.screenshot({ path: `${shots}/2-queue.png`, fullPage: true });

  // A dead task, redriven from the dead list.
  const leased = await api("POST", `${qpath}/leases`, { max_tasks: 1 }, workerKey);
  const lease = leased.leases[0];
  check("leased the first task", lease?.task.id === first.id);
  await api("POST", `${qpath}/tasks/${first.id}/fail`, { lease_id: lease.lease_id, error: "smtp said no", retry: false }, workerKey);
  await page.click('[data-tab="dead"]');
  await page.locator(`tr[data-task="${first.id}"]`).waitFor();
  await page.screenshot({ path: `${shots}/3-dead.png`, fullPage: true });
  await page.click('[data-testid="redrive-all"]');
  await page.getByText("Redriven: 1.").waitFor();
  check("redrive", (await api("GET", `${qpath}/tasks/${first.id}`)).state === "ready");
  await page.click('[data-tab="ready"]');
  await page.locator(`tr[data-task="${first.id}"]`).waitFor();

  // Dead again, then purged (the confirmation dialog is accepted).
  const again = (await api("POST", `${qpath}/leases`, { max_tasks: 1 }, workerKey)).leases[0];
  check("leased the redriven task", again?.task.id === first.id);
  await api("POST", `${qpath}/tasks/${first.id}/fail`, { lease_id: again.lease_id, error: "still no", retry: false }, workerKey);
  await page.click('[data-tab="dead"]');
  await page.locator(`tr[data-task="${first.id}"]`).waitFor();
  await page.click('[data-testid="purge-all"]');
  await page.getByText("Purged: 1.").waitFor();
  const gone = await fetch(`${base}${qpath}/tasks/${first.id}`, { headers: { authorization: `Bearer ${adminKey}` } });
  check("purge", gone.status === 404, `${gone.status}`);

  // Submit from the form, follow the task to completed.
  await page.fill('[data-testid="submit-form"] textarea', '{"to": "ada@example.com"}');
  await page.fill('[data-testid="submit-form"] input[name="priority"]', "5");
  await page.click('[data-testid="submit-form"] button[type="submit"]');
  const created = page.locator('[data-testid="submit-form"] .note.ok a');
  await created.waitFor();
  const id = await created.textContent();
  await created.click();
  await page.locator('[data-testid="task-state"]', { hasText: "ready" }).waitFor();
  check("the task page shows the payload", (await page.textContent('[data-testid="payload"]')).includes("ada@example.com"));
  await page.locator('[data-testid="reasons"] li[data-code="behind"]').waitFor();
  check("the task page explains the task", (await page.textContent('[data-testid="why"]')).includes("will be leased before it"));
  const work = await api("POST", `${qpath}/leases`, { max_tasks: 1, worker: "ui-worker", labels: { region: "eu", gpu: "a100" } }, workerKey);
  check("the submitted task is leased first (priority 5)", work.leases[0]?.task.id === id);
  await page.locator('[data-testid="task-state"]', { hasText: "leased" }).waitFor();
  await api("POST", `${qpath}/tasks/${id}/heartbeat`, { lease_id: work.leases[0].lease_id, progress: { done: 3, of: 4 } }, workerKey);
  await page.locator('[data-testid="progress"]', { hasText: '"done": 3' }).waitFor();
  check("the task page shows the worker's progress", true);
  await api("POST", `${qpath}/tasks/${id}/ack`, { lease_id: work.leases[0].lease_id, result: { sent: true } }, workerKey);
  await page.locator('[data-testid="task-state"]', { hasText: "completed" }).waitFor();
  await page.locator('[data-testid="result"]', { hasText: "sent" }).waitFor();
  await page.locator('[data-testid="reasons"] li[data-code="completed"]').waitFor();
  await page.getByText("the stream has ended").waitFor();
  await page.screenshot({ path: `${shots}/4-task.png`, fullPage: true });
  check("followed the task to completed", true);

  // The workers: the one that leased above, on the queue's page and on the workers page.
  await page.goto(`${base}/ui/#/queues/${queue}`);
  await page.locator('[data-testid="workers"] tr[data-worker="ui-worker"]').waitFor();
  await page.goto(`${base}/ui/#/workers`);
  const row = page.locator('[data-testid="workers"] tr[data-worker="ui-worker"]');
  await row.waitFor();
  check("the workers page lists the worker with its queue", (await row.textContent()).includes(queue));
  const labels = await row.locator('[data-testid="labels"]').textContent();
  check("the workers page shows the worker's labels", labels === "gpu=a100, region=eu");
  await page.screenshot({ path: `${shots}/5-workers.png`, fullPage: true });

  // A flow: its page lists each task with its state, live; a waiting task's page shows its
  // parents (linked) and its flow; cancelling the flow from its page cancels what is left.
  const flowQueue = `${queue}-flow`;
  const flow = await api("POST", "/v1/flows", { tasks: [
    { ref: "thumb", queue: flowQueue, payload: { image: "a.png" } },
    { ref: "zip", queue: flowQueue, payload: { name: "z.zip" }, depends_on: ["thumb"] },
  ] });
  await page.goto(`${base}/ui/#/flows/${encodeURIComponent(flow.id)}`);
  await page.locator('[data-testid="flow-tasks"] tr[data-ref="zip"] [data-state="waiting"]').waitFor();
  const thumbLease = (await api("POST", `/v1/queues/${flowQueue}/leases`, { max_tasks: 1 }, workerKey)).leases[0];
  await api("POST", `/v1/queues/${flowQueue}/tasks/${thumbLease.task.id}/ack`, { lease_id: thumbLease.lease_id, result: { url: "s3://t/a.png" } }, workerKey);
  await page.locator('[data-testid="flow-tasks"] tr[data-ref="thumb"] [data-state="completed"]').waitFor();
  await page.locator('[data-testid="flow-tasks"] tr[data-ref="zip"] [data-state="ready"]').waitFor();
  check("the flow page follows its tasks' states", true);
  const zip = flow.tasks[1];
  await page.click(`[data-testid="flow-tasks"] tr[data-ref="zip"] a`);
  await page.locator(`[data-testid="parents"] tr[data-parent="${thumbLease.task.id}"]`, { hasText: "s3://t/a.png" }).waitFor();
  check("a task's page shows its parents and their results", (await page.textContent('[data-testid="flow-link"]')).includes(flow.id));
  await page.goto(`${base}/ui/#/flows/${encodeURIComponent(flow.id)}`);
  await page.getByRole("button", { name: "Cancel flow" }).click();
  await page.locator('[data-testid="flow-tasks"] tr[data-ref="zip"] [data-state="cancelled"]').waitFor();
  check("cancel a flow", (await api("GET", `/v1/queues/${flowQueue}/tasks/${zip.id}`)).state === "cancelled");
  await page.screenshot({ path: `${shots}/6-flow.png`, fullPage: true });

  // A real EventSource hears a heartbeat's progress as a `progress` event. EventSource cannot
  // send a key, so this is against the second server, which requires none, from a page of its
  // own origin.
  const open = process.env.TASKGATE_OPEN_URL;
  const openCall = async (path, body) => {
    const response = await fetch(open + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return response.json();
  };
  const esQueue = `/v1/queues/${queue}-es`;
  const followed = await openCall(`${esQueue}/tasks`, { payload: "resize" });
  const held = (await openCall(`${esQueue}/leases`, { max_tasks: 1 })).leases[0];
  const esPage = await browser.newPage();
  await esPage.goto(`${open}/healthz`);
  // Connected once the stream has sent the task as it is now (leased).
  await esPage.evaluate((path) => new Promise((resolve, reject) => {
    const source = new EventSource(path);
    window.heard = [];
    source.addEventListener("leased", () => { window.heard.push("leased"); resolve(); });
    source.addEventListener("progress", (e) => window.heard.push(JSON.parse(e.data).progress));
    source.onerror = () => reject(new Error("the EventSource failed"));
  }), `${esQueue}/tasks/${followed.id}/events`);
  await openCall(`${esQueue}/tasks/${followed.id}/heartbeat`, { lease_id: held.lease_id, progress: { done: 1, of: 2 } });
  await esPage.waitForFunction(() => window.heard.length >= 2);
  const heard = await esPage.evaluate(() => window.heard);
  check("a real EventSource hears a progress event", JSON.stringify(heard) === '["leased",{"done":1,"of":2}]', JSON.stringify(heard));
  await esPage.close();

  // Every call the dashboard made is a documented operation.
  const document = await api("GET", "/openapi.json");
  const operations = Object.entries(document.paths).flatMap(([template, item]) =>
    Object.keys(item).map((method) => [method.toUpperCase(), new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`), template]),
  );
  const seen = new Map();
  for (const [method, path] of calls) {
    if (path.startsWith("/ui")) continue; // the dashboard's own files
    const operation = operations.find(([m, pattern]) => m === method && pattern.test(path));
    if (!operation) failures.push(`undocumented call: ${method} ${path}`);
    else seen.set(`${method} ${operation[2]}`, (seen.get(`${method} ${operation[2]}`) ?? 0) + 1);
  }
  console.log("the dashboard's API calls, all documented operations:");
  for (const [operation, count] of [...seen].sort()) console.log(`  ${operation} ×${count}`);
  check("the dashboard made API calls", seen.size >= 8, `${seen.size}`);
} catch (error) {
  // What the page showed when it went wrong.
  const [page] = browser.contexts().flatMap((context) => context.pages());
  if (page) {
    await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
    const notes = await page.locator(".note").allTextContents().catch(() => []);
    failures.push(`${error.message}\nnotes on the page: ${JSON.stringify(notes)}`);
  } else failures.push(error.message);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log("dashboard: all checks passed");
