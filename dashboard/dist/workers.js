// The workers page (#/workers): every worker seen in the last minutes on the queues the key may
// read, refreshed every 5 s; and the table a queue's page shows of its own workers.
import { call, q } from "./api.js";
import { h, labelText, link, note, when } from "./dom.js";
const NUMBERS = ["holds", "leased", "completed", "failed"];
/** A window in words: "5 minutes". */
function minutes(ms) {
    const n = Math.round(ms / 60000);
    return n === 1 ? "minute" : `${n} minutes`;
}
function table(workers, withQueues) {
    const head = ["worker", ...(withQueues ? ["queues"] : []), "labels", "last call", "holds", "leased", "completed", "failed"];
    return h("table", { "data-testid": "workers" }, h("thead", {}, h("tr", {}, ...head.map((name) => h("th", { class: NUMBERS.includes(name) ? "num" : "" }, name)))), h("tbody", {}, ...workers.map((w) => h("tr", { "data-worker": w.name }, h("td", {}, w.name), withQueues ? h("td", {}, ...(w.queues ?? []).flatMap((name, i) => [i ? ", " : "", link(`#/queues/${encodeURIComponent(name)}`, name)])) : null, h("td", { "data-testid": "labels" }, labelText(w.labels)), h("td", {}, when(w.last_seen)), h("td", { class: "num" }, w.leases_held), h("td", { class: "num" }, w.leased), h("td", { class: "num" }, w.completed), h("td", { class: "num" }, w.failed)))));
}
/** A queue's workers, for its page, and how to refresh them. */
export function queueWorkers(queue) {
    const body = h("div", {}, note("Loading…"));
    const refresh = async () => {
        try {
            const { data } = await call("GET", `${q(queue)}/workers`);
            const anonymous = data.anonymous ? ` Workers without a name: ${data.anonymous.leased} leased, ${data.anonymous.leases_held} held.` : "";
            body.replaceChildren(data.workers.length ? table(data.workers, false) : note(`No named worker called in the last ${minutes(data.window_ms)}.`), anonymous ? h("p", { class: "hint" }, anonymous) : "");
        }
        catch (error) {
            body.replaceChildren(note(String(error.message), "error"));
        }
    };
    return { element: h("section", {}, h("h3", {}, "Workers"), body), refresh };
}
export function workersPage(root, signal) {
    const holder = h("div", {}, note("Loading…"));
    root.replaceChildren(h("h2", {}, "Workers"), h("p", { class: "hint" }, "Every worker that called a queue within its workers window (5 minutes unless the queue's policy sets workers_window_ms), by the name it leases with."), holder);
    const refresh = async () => {
        try {
            const { data } = await call("GET", "/v1/workers");
            holder.replaceChildren(data.workers.length ? table(data.workers, true) : note("No worker called any queue within its window."));
        }
        catch (error) {
            holder.replaceChildren(note(String(error.message), "error"));
        }
    };
    void refresh();
    const timer = setInterval(refresh, 5000);
    signal.addEventListener("abort", () => clearInterval(timer));
}
