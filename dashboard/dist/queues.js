// The first page: every queue with its counts per state and its rates, refreshed every 2 s.
import { call } from "./api.js";
import { h, link, note } from "./dom.js";
import { submitForm } from "./submit.js";
import { STATES } from "./types.js";
/** Totals seen at the previous refresh, to turn them into rates. */
let previous = null;
async function allQueues() {
    const queues = [];
    let cursor = null;
    do {
        const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
        const { data } = await call("GET", `/v1/queues${query}`);
        queues.push(...data.queues);
        cursor = data.next_cursor;
    } while (cursor);
    return queues;
}
function rate(now, name, field, value) {
    const before = previous?.totals.get(name)?.[field];
    if (!previous || before === undefined)
        return "–";
    const seconds = (now - previous.at) / 1000;
    return seconds > 0 ? ((value - before) / seconds).toFixed(1) : "–";
}
function table(queues) {
    const now = Date.now();
    const rows = queues.map((queue) => h("tr", { "data-queue": queue.name }, h("td", {}, link(`#/queues/${encodeURIComponent(queue.name)}`, queue.name), queue.policy.paused ? h("span", { class: "badge paused" }, "paused") : null), ...STATES.map((state) => h("td", { class: "num", "data-count": state }, queue.counts[state])), h("td", { class: "num" }, rate(now, queue.name, "submitted", queue.totals.submitted)), h("td", { class: "num" }, rate(now, queue.name, "completed", queue.totals.completed))));
    previous = { at: now, totals: new Map(queues.map((queue) => [queue.name, queue.totals])) };
    return h("table", { "data-testid": "queues" }, h("thead", {}, h("tr", {}, h("th", {}, "Queue"), ...STATES.map((s) => h("th", { class: "num" }, s)), h("th", { class: "num" }, "submitted/s"), h("th", { class: "num" }, "completed/s"))), h("tbody", {}, ...rows));
}
export function queuesPage(root, signal) {
    const holder = h("div", {}, note("Loading…"));
    root.replaceChildren(h("h2", {}, "Queues"), holder, submitForm());
    const refresh = async () => {
        try {
            const queues = await allQueues();
            holder.replaceChildren(queues.length ? table(queues) : note("No queues yet: submit a task to make one."));
        }
        catch (error) {
            holder.replaceChildren(note(String(error.message), "error"));
        }
    };
    void refresh();
    const timer = setInterval(refresh, 2000);
    signal.addEventListener("abort", () => clearInterval(timer));
}
