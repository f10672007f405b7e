// A queue's page: its counts, pause and resume, its policy (edited with If-Match, so two
// operators cannot overwrite each other), its tasks per state, dead-letter redrive and purge,
// its history as charts (charts.ts), its task groups (groups.ts), its schedules (schedules.ts),
// its workers (workers.ts), and
// a submit form.
import { call, q, saveJson } from "./api.js";
import { badge, h, json, link, note, when } from "./dom.js";
import { historySection } from "./charts.js";
import { queueWorkers } from "./workers.js";
import { groupsSection } from "./groups.js";
import { schedulesSection } from "./schedules.js";
import { submitForm } from "./submit.js";
import { STATES } from "./types.js";
/** The queue's own values, from the overridden field paths ("rate_limit.burst" and so on). */
function ownValues(view) {
    const own = {};
    for (const path of view.overrides) {
        const [head, tail] = path.split(".");
        const value = view.policy[head];
        if (tail === undefined)
            own[head] = value;
        else {
            const nested = (own[head] ??= {});
            nested[tail] = value?.[tail];
        }
    }
    return own;
}
function countsBar(stats, onPause) {
    const paused = stats.policy.paused;
    return h("section", { class: "counts", "data-testid": "counts" }, ...STATES.map((state) => h("div", { class: "count" }, badge(state), h("strong", { "data-count": state }, stats.counts[state]))), h("div", { class: "count" }, h("span", {}, "oldest ready"), h("strong", {}, stats.oldest_ready_age_ms === null ? "–" : `${stats.oldest_ready_age_ms} ms`)), h("div", { class: "count" }, h("span", {}, "groups ready / held"), h("strong", { "data-count": "groups" }, `${stats.groups.ready} / ${stats.groups.held}`)), h("div", { class: "count" }, h("span", {}, "schedules"), h("strong", { "data-count": "schedules" }, stats.schedules)), h("button", { class: paused ? "primary" : "", "data-testid": paused ? "resume" : "pause", onclick: () => onPause(!paused) }, paused ? "Resume" : "Pause"), paused ? h("span", { class: "badge paused", "data-testid": "paused" }, "paused") : null);
}
/** The policy editor, and how to reload it (after this page changed the policy itself). */
function policyEditor(queue) {
    const box = h("section", { class: "policy", "data-testid": "policy" }, h("h3", {}, "Policy"), note("Loading…"));
    let etag = "";
    const load = async (message) => {
        const { data, headers } = await call("GET", `${q(queue)}/policy`);
        etag = headers.get("etag") ?? "";
        const editor = h("textarea", { rows: 8, spellcheck: false, "data-testid": "policy-editor" }, JSON.stringify(ownValues(data), null, 2));
        const out = h("div", { class: "out" }, message ?? null);
        const save = async () => {
            const saved = await saveJson(`${q(queue)}/policy`, editor.value, etag);
            if (saved === "saved")
                await load(note("Saved."));
            else if (saved === "stale")
                await load(note("Someone changed this policy meanwhile: here it is now. Apply your change again.", "error"));
            else
                out.replaceChildren(note(saved.error, "error"));
        };
        box.replaceChildren(h("h3", {}, "Policy ", h("small", {}, `version ${data.version}${data.updated_at ? `, ${when(data.updated_at)}` : ""}`)), h("p", { class: "hint" }, "This queue's own values; every field left out takes the server's default. Saved only if nobody changed it since it was loaded."), editor, h("button", { type: "button", onclick: save, "data-testid": "policy-save" }, "Save policy"), out, h("details", {}, h("summary", {}, "Effective policy"), json(data.policy)));
    };
    const reload = () => {
        load().catch((error) => box.append(note(String(error.message), "error")));
    };
    reload();
    return { element: box, reload };
}
function taskLists(queue, refreshCounts) {
    let state = "ready";
    const tabs = h("nav", { class: "tabs" });
    const body = h("div", {});
    const show = async (cursor = null) => {
        const query = `state=${state}&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const { data } = await call("GET", `${q(queue)}/tasks?${query}`);
        const rows = data.tasks.map((task) => h("tr", { "data-task": task.id }, h("td", {}, link(`#/queues/${encodeURIComponent(queue)}/tasks/${task.id}`, task.id)), h("td", { class: "num" }, task.priority), h("td", { class: "num" }, `${task.attempts}/${task.max_attempts}`), h("td", {}, when(task.created_at)), h("td", { class: "error" }, task.last_error ?? ""), state === "dead" ? h("td", {}, h("button", { onclick: () => redrive([task.id]) }, "Redrive")) : null));
        const more = data.next_cursor ? h("button", { onclick: () => show(data.next_cursor) }, "Next page") : null;
        const deadTools = state === "dead"
            ? h("div", { class: "row" }, h("button", { "data-testid": "redrive-all", onclick: () => redrive(null) }, "Redrive all"), h("button", { class: "danger", "data-testid": "purge-all", onclick: purge }, "Purge all"))
            : null;
        body.replaceChildren(deadTools ?? "", rows.length
            ? h("table", { "data-testid": `tasks-${state}` }, h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", { class: "num" }, "priority"), h("th", { class: "num" }, "attempts"), h("th", {}, "created"), h("th", {}, "last error"), state === "dead" ? h("th", {}) : null)), h("tbody", {}, ...rows))
            : note(`No ${state} tasks.`), more ?? "");
    };
    const act = async (what) => {
        try {
            const message = await what();
            await show();
            refreshCounts();
            body.prepend(note(message));
        }
        catch (error) {
            body.prepend(note(String(error.message), "error"));
        }
    };
    const redrive = (ids) => act(async () => {
        const { data } = await call("POST", `${q(queue)}/dead:redrive`, ids ? { ids } : {});
        return `Redriven: ${data.redriven}.`;
    });
    const purge = () => {
        if (!confirm(`Delete every dead task of ${queue}?`))
            return;
        void act(async () => {
            const { data } = await call("DELETE", `${q(queue)}/dead`);
            return `Purged: ${data.purged}.`;
        });
    };
    const select = (next) => {
        state = next;
        for (const tab of tabs.children)
            tab.classList.toggle("active", tab.getAttribute("data-tab") === next);
        show().catch((error) => body.replaceChildren(note(String(error.message), "error")));
    };
    tabs.append(...STATES.map((s) => h("button", { "data-tab": s, onclick: () => select(s) }, s)));
    select("ready");
    return h("section", { class: "lists" }, h("h3", {}, "Tasks"), tabs, body);
}
export function queuePage(root, queue, signal) {
    const counts = h("div", {}, note("Loading…"));
    const groups = groupsSection(queue);
    const schedules = schedulesSection(queue);
    const history = historySection(queue);
    const workers = queueWorkers(queue);
    const refresh = async () => {
        try {
            const { data } = await call("GET", q(queue));
            counts.replaceChildren(countsBar(data, pause));
        }
        catch (error) {
            counts.replaceChildren(note(String(error.message), "error"));
        }
        await groups.refresh();
        await schedules.refresh();
        await workers.refresh();
    };
    const policy = policyEditor(queue);
    const pause = async (paused) => {
        try {
            await call("PATCH", `${q(queue)}/policy`, { paused });
            policy.reload(); // a new version: the editor's If-Match must follow it
        }
        catch (error) {
            counts.append(note(String(error.message), "error"));
        }
        await refresh();
    };
    root.replaceChildren(h("p", { class: "crumbs" }, link("#/", "Queues"), " / ", queue), h("h2", {}, queue), counts, history.element, taskLists(queue, refresh), groups.element, schedules.element, workers.element, h("div", { class: "columns" }, policy.element, submitForm(queue)));
    void refresh();
    const timer = setInterval(refresh, 2000);
    // A minute's point changes at most with each sweep: every 10 s is enough.
    const charts = setInterval(history.refresh, 10_000);
    signal.addEventListener("abort", () => {
        clearInterval(timer);
        clearInterval(charts);
    });
}
