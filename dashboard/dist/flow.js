// A flow's page (POST /v1/flows): each task with its queue and state, linked to its page,
// kept live by following the flow's event stream until every task has finished; and a button
// that cancels every unfinished task.
import { call, followEvents } from "./api.js";
import { badge, h, link, note, when } from "./dom.js";
import { taskLink } from "./task.js";
function render(flow) {
    return h("table", { "data-testid": "flow-tasks" }, h("thead", {}, h("tr", {}, h("th", {}, "ref"), h("th", {}, "queue"), h("th", {}, "task"), h("th", {}, "state"))), h("tbody", {}, ...flow.tasks.map((t) => h("tr", { "data-ref": t.ref }, h("td", {}, t.ref), h("td", {}, t.queue), h("td", {}, taskLink(t.queue, t.id)), h("td", {}, badge(t.state ?? "purged"))))));
}
export function flowPage(root, id, signal) {
    const path = `/v1/flows/${encodeURIComponent(id)}`;
    const summary = h("p", { "data-testid": "flow-summary" }, "");
    const table = h("div", {}, note("Loading…"));
    const out = h("div", {});
    let flow = null;
    const show = (next) => {
        flow = next;
        const done = next.tasks.filter((t) => t.state === "completed").length;
        summary.replaceChildren(`${next.tasks.length} tasks, created ${when(next.created_at)}; ${done} completed; `, next.finished ? "finished" : h("button", { class: "danger", onclick: cancel }, "Cancel flow"));
        table.replaceChildren(render(next));
    };
    const cancel = async () => {
        try {
            show((await call("DELETE", path)).data);
        }
        catch (error) {
            out.replaceChildren(note(String(error.message), "error"));
        }
    };
    root.replaceChildren(h("p", { class: "crumbs" }, link("#/", "Queues"), " / flow"), h("h2", {}, "Flow ", h("code", {}, id)), summary, out, table);
    // The stream starts with the flow, then a `task` event per change, then `finished`.
    followEvents(`${path}/events`, (name, data) => {
        if (name === "flow" || name === "finished")
            show(data);
        else if (name === "task" && flow) {
            const changed = data;
            show({ ...flow, tasks: flow.tasks.map((t) => (t.id === changed.id ? changed : t)) });
        }
    }, signal).catch((error) => {
        if (signal.aborted)
            return;
        out.replaceChildren(note(error.message, "error"));
        call("GET", path).then(({ data }) => show(data), () => { });
    });
}
