// A queue's task groups: each group's backlog, in-flight count and where it stands (taking
// its turns, or held by a limit), pause and resume one group, and edit its own limits (with
// If-Match, as the policy).

import { call, q, saveJson } from "./api.js";
import { h, json, note } from "./dom.js";
import type { GroupList, GroupView } from "./types.js";

const g = (queue: string, group: string) => `${q(queue)}/groups/${encodeURIComponent(group)}`;

/** The group's own limits, from its overridden field paths (`rate_limit.burst` and so on). */
function ownLimits(view: GroupView): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const path of view.overrides) {
    if (path.startsWith("rate_limit.")) own.rate_limit = view.limits.rate_limit;
    else own[path] = view.limits[path as keyof GroupView["limits"]];
  }
  return own;
}

/** The editor of one group's own limits, under the table. */
function limitsEditor(queue: string, view: GroupView, done: () => void): HTMLElement {
  const etag = `"${view.version}"`;
  const editor = h("textarea", { rows: 5, spellcheck: false, "data-testid": "group-editor" }, JSON.stringify(ownLimits(view), null, 2));
  const out = h("div", { class: "out" });
  const save = async () => {
    const saved = await saveJson(g(queue, view.group), editor.value, etag);
    if (saved === "saved") done();
    else out.replaceChildren(note(saved === "stale" ? "Someone changed this group meanwhile: reload it and apply your change again." : saved.error, "error"));
  };
  return h(
    "div",
    { class: "group-editor", "data-group-editor": view.group },
    h("h4", {}, `Group ${view.group} `, h("small", {}, `version ${view.version}`)),
    h("p", { class: "hint" }, "This group's own limits (weight, max_in_flight, rate_limit, paused); the rest are the queue policy's."),
    editor,
    h("button", { type: "button", onclick: save, "data-testid": "group-save" }, "Save group"),
    out,
    h("details", {}, h("summary", {}, "Limits in effect"), json(view.limits)),
  );
}

export function groupsSection(queue: string): { element: HTMLElement; refresh: () => Promise<void> } {
  const body = h("div", {}, note("Loading…"));
  const editing = h("div", {});
  const act = async (what: () => Promise<unknown>) => {
    try {
      await what();
    } catch (error) {
      body.prepend(note(String((error as Error).message), "error"));
    }
    await refresh();
  };
  const row = (view: GroupView) =>
    h(
      "tr",
      { "data-group": view.group },
      h("td", {}, view.group),
      h("td", { "data-group-state": view.state }, view.state === "held" ? `held: ${view.held_by ?? "limit"}` : view.state),
      h("td", { class: "num" }, view.counts.ready),
      h("td", { class: "num" }, view.counts.scheduled),
      h("td", { class: "num", "data-in-flight": "" }, view.in_flight),
      h("td", { class: "num" }, view.limits.weight),
      h("td", { class: "num" }, view.tokens === null ? "–" : view.tokens),
      h(
        "td",
        {},
        h("button", { "data-testid": view.limits.paused ? "group-resume" : "group-pause", onclick: () => act(() => call("PATCH", g(queue, view.group), { paused: !view.limits.paused })) }, view.limits.paused ? "Resume" : "Pause"),
        h("button", { "data-testid": "group-edit", onclick: () => editing.replaceChildren(limitsEditor(queue, view, () => { editing.replaceChildren(note("Saved.")); void refresh(); })) }, "Edit"),
      ),
    );
  const refresh = async () => {
    const { data } = await call<GroupList>("GET", `${q(queue)}/groups?limit=100`);
    body.replaceChildren(
      data.groups.length
        ? h(
            "table",
            { "data-testid": "groups" },
            h("thead", {}, h("tr", {}, ...["Group", "state", "ready", "scheduled", "in flight", "weight", "tokens", ""].map((t, n) => h("th", { class: n >= 2 && n <= 6 ? "num" : "" }, t)))),
            h("tbody", {}, ...data.groups.map(row)),
          )
        : note("No groups: tasks submitted with a `group` show here."),
      data.next_cursor ? note("Showing the first 100 groups.") : "",
    );
  };
  const element = h("section", { class: "groups" }, h("h3", {}, "Groups"), body, editing);
  return { element, refresh: () => refresh().catch((error) => body.replaceChildren(note(String(error.message), "error"))) };
}
