// The first page: every queue with its counts per state and its running totals, refreshed every
// 2 s (each queue's page charts its throughput from the server's history).
import { call } from "./api.js";
import { h, link, note } from "./dom.js";
import { submitForm } from "./submit.js";
import { STATES } from "./types.js";
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
function table(queues) {
    const rows = queues.map((queue) => h("tr", { "data-queue": queue.name }, h("td", {}, link(`#/queues/${encodeURIComponent(queue.name)}`, queue.name), queue.policy.paused ? h("span", { class: "badge paused" }, "paused") : null), ...STATES.map((state) => h("td", { class: "num", "data-count": state }, queue.counts[state])), h("td", { class: "num" }, queue.totals.submitted), h("td", { class: "num" }, queue.totals.completed)));
    return h("table", { "data-testid": "queues" }, h("thead", {}, h("tr", {}, h("th", {}, "Queue"), ...STATES.map((s) => h("th", { class: "num" }, s)), h("th", { class: "num" }, "submitted"), h("th", { class: "num" }, "completed"))), h("tbody", {}, ...rows));
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
