// A queue's schedules: each one's cadence, status, next run and last run (with the state of
// its task), pause and resume one, trigger it now, see its last runs, and create or edit one
// (its definition as JSON, saved with If-Match, as the policy).
import { call, q, saveJson } from "./api.js";
import { badge, h, json, note, when } from "./dom.js";
const s = (queue, name) => `${q(queue)}/schedules/${encodeURIComponent(name)}`;
/** The fields of a schedule's view that are not its definition (what a PUT takes). */
const READ_ONLY = ["queue", "name", "status", "next_runs", "last_runs", "runs", "version", "created_at", "updated_at", "updated_by"];
/** A schedule's definition, as a PUT takes it. */
function definition(view) {
    return Object.fromEntries(Object.entries(view).filter(([key]) => !READ_ONLY.includes(key)));
}
const cadence = (view) => view.cron ? `${view.cron} (${view.timezone ?? "UTC"})` : `every ${view.every_ms} ms`;
/** The editor of one schedule (or a new one), under the table. */
function scheduleEditor(queue, name, view, done) {
    const start = view ? definition(view) : { every_ms: 60000, task: { payload: {} } };
    const editor = h("textarea", { rows: 8, spellcheck: false, "data-testid": "schedule-editor" }, JSON.stringify(start, null, 2));
    const out = h("div", { class: "out" });
    const save = async () => {
        const saved = await saveJson(s(queue, name), editor.value, view ? `"${view.version}"` : null);
        if (saved === "saved")
            done();
        else
            out.replaceChildren(note(saved === "stale" ? (view ? "Someone changed this schedule meanwhile: reload it and apply your change again." : "A schedule of that name exists already: open it to edit it.") : saved.error, "error"));
    };
    return h("div", { class: "schedule-editor", "data-schedule-editor": name }, h("h4", {}, `Schedule ${name} `, view ? h("small", {}, `version ${view.version}`) : h("small", {}, "new")), h("p", { class: "hint" }, "cron (with timezone) or every_ms, the task it submits, paused, start_at, end_at, catch_up (skip or latest)."), editor, h("button", { type: "button", onclick: save, "data-testid": "schedule-save" }, "Save schedule"), out);
}
/** A schedule's last runs, each with its task and that task's state. */
function lastRuns(queue, view) {
    return h("table", { "data-testid": "schedule-runs" }, h("thead", {}, h("tr", {}, ...["At", "kind", "task", "state"].map((t) => h("th", {}, t)))), h("tbody", {}, ...view.last_runs.map((run) => h("tr", {}, h("td", {}, when(run.at)), h("td", {}, run.kind), h("td", {}, run.task_id ? h("a", { href: `#/queues/${encodeURIComponent(queue)}/tasks/${run.task_id}` }, run.task_id) : run.error ?? ""), h("td", {}, run.state ? badge(run.state) : run.task_id ? "purged" : "")))));
}
export function schedulesSection(queue) {
    const body = h("div", {}, note("Loading…"));
    const editing = h("div", {});
    const act = async (what) => {
        try {
            await what();
        }
        catch (error) {
            body.prepend(note(String(error.message), "error"));
        }
        await refresh();
    };
    const open = async (name) => {
        const { data } = await call("GET", s(queue, name));
        editing.replaceChildren(h("h4", {}, `Last runs of ${name}`), data.last_runs.length ? lastRuns(queue, data) : note("No runs yet."), h("details", {}, h("summary", {}, "Next runs"), json(data.next_runs)), scheduleEditor(queue, name, data, () => {
            editing.replaceChildren(note("Saved."));
            void refresh();
        }));
    };
    const row = (view) => h("tr", { "data-schedule": view.name }, h("td", {}, view.name), h("td", {}, cadence(view)), h("td", { "data-schedule-status": view.status }, view.status), h("td", {}, when(view.next_runs[0]) || "–"), h("td", { class: "num" }, view.runs.fired), h("td", { class: "num" }, view.runs.missed), h("td", { class: "num" }, view.runs.failed), h("td", {}, h("button", { "data-testid": view.paused ? "schedule-resume" : "schedule-pause", onclick: () => act(() => call("PATCH", s(queue, view.name), { paused: !view.paused })) }, view.paused ? "Resume" : "Pause"), h("button", { "data-testid": "schedule-trigger", onclick: () => act(() => call("POST", `${s(queue, view.name)}:trigger`)) }, "Run now"), h("button", { "data-testid": "schedule-open", onclick: () => act(() => open(view.name)) }, "Runs / edit")));
    const newName = h("input", { placeholder: "new schedule name", "data-testid": "schedule-name" });
    const create = () => {
        const name = newName.value.trim();
        if (name)
            editing.replaceChildren(scheduleEditor(queue, name, null, () => { editing.replaceChildren(note("Saved.")); void refresh(); }));
    };
    const refresh = async () => {
        const { data } = await call("GET", `${q(queue)}/schedules?limit=100`);
        body.replaceChildren(data.schedules.length
            ? h("table", { "data-testid": "schedules" }, h("thead", {}, h("tr", {}, ...["Schedule", "runs at", "status", "next run", "fired", "missed", "failed", ""].map((t, n) => h("th", { class: n >= 4 && n <= 6 ? "num" : "" }, t)))), h("tbody", {}, ...data.schedules.map(row)))
            : note("No schedules: create one below, or with PUT …/schedules/{name}."), data.next_cursor ? note("Showing the first 100 schedules.") : "");
    };
    const element = h("section", { class: "schedules" }, h("h3", {}, "Schedules"), body, h("div", { class: "new-schedule" }, newName, h("button", { type: "button", onclick: create, "data-testid": "schedule-new" }, "New schedule")), editing);
    return { element, refresh: () => refresh().catch((error) => body.replaceChildren(note(String(error.message), "error"))) };
}
