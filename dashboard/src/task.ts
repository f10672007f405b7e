// A task's page: its state, why it is there (the explain endpoint: what holds it, how many
// tasks are ahead, who holds it, how it ended), payload, latest progress report, result and
// error history, kept live by following the task's event stream until it is finished; and a
// cancel button while it can be cancelled.

import { call, followEvents, q } from "./api.js";
import { badge, h, json, labelText, link, note, when } from "./dom.js";
import type { Dependency, Explanation, Task } from "./types.js";

/** A link to a task's page. */
export function taskLink(queue: string, id: string): HTMLElement {
  return link(`#/queues/${encodeURIComponent(queue)}/tasks/${encodeURIComponent(id)}`, id);
}

/** The tasks a task waits for (or waited for), each linked, with what it knows of each. */
function renderParents(task: Task): HTMLElement | null {
  if (!task.dependencies) return null;
  const row = (d: Dependency) =>
    h(
      "tr",
      { "data-parent": d.id },
      h("td", {}, d.queue),
      h("td", {}, taskLink(d.queue, d.id)),
      h("td", {}, badge(d.state)),
      h("td", {}, d.result_omitted ? "(too large: see the task)" : d.result === undefined ? "" : JSON.stringify(d.result)),
    );
  return h(
    "div",
    {},
    h("h3", {}, "Depends on ", h("span", { class: "hint" }, `if one fails: ${task.on_dependency_failure ?? "dead"}`)),
    h(
      "table",
      { "data-testid": "parents" },
      h("thead", {}, h("tr", {}, h("th", {}, "queue"), h("th", {}, "task"), h("th", {}, "state"), h("th", {}, "result"))),
      h("tbody", {}, ...task.dependencies.map(row)),
    ),
  );
}

function render(task: Task, cancel: () => void): HTMLElement[] {
  const fields: [string, unknown][] = [
    ["attempts", `${task.attempts} of ${task.max_attempts}`],
    ["priority", task.priority],
    ["created", when(task.created_at)],
    ["runs at", when(task.run_at)],
    ["leased until", when(task.leased_until)],
    ["finished", when(task.finished_at)],
    ["worker", task.worker ?? ""],
    ["group", task.group ?? ""],
    ["requires", labelText(task.requires)],
  ];
  const open = task.state === "waiting" || task.state === "ready" || task.state === "scheduled" || task.state === "leased";
  return [
    h("p", {}, h("span", { "data-testid": "task-state" }, badge(task.state)), open ? h("button", { class: "danger", onclick: cancel }, "Cancel task") : null),
    h("table", { class: "fields" }, h("tbody", {}, ...fields.map(([name, value]) => h("tr", {}, h("th", {}, name), h("td", {}, String(value)))))),
    task.flow ? h("p", { "data-testid": "flow-link" }, "In flow ", link(`#/flows/${encodeURIComponent(task.flow)}`, task.flow)) : null,
    renderParents(task),
    h("h3", {}, "Payload"),
    json(task.payload, "payload"),
    task.progress_at !== undefined
      ? h("div", {}, h("h3", {}, "Progress ", h("span", { class: "hint" }, `reported ${when(task.progress_at)}`)), json(task.progress, "progress"))
      : null,
    task.result !== undefined && task.result !== null ? h("div", {}, h("h3", {}, "Result"), json(task.result, "result")) : null,
    task.errors.length
      ? h(
          "div",
          {},
          h("h3", {}, "Errors"),
          h(
            "table",
            { "data-testid": "errors" },
            h("thead", {}, h("tr", {}, h("th", {}, "attempt"), h("th", {}, "at"), h("th", {}, "kind"), h("th", {}, "message"))),
            h("tbody", {}, ...task.errors.map((e) => h("tr", {}, h("td", { class: "num" }, e.attempt), h("td", {}, when(e.at)), h("td", {}, e.kind), h("td", { class: "error" }, e.message)))),
          ),
        )
      : null,
  ].filter((node): node is HTMLElement => node !== null);
}

/** The explanation: whether the next lease would take the task, and each reason. */
function renderWhy(why: Explanation): HTMLElement[] {
  const verdict = why.runnable_now ? "Runnable now: the next lease on this queue takes it." : "";
  const nodes: (HTMLElement | null)[] = [
    h("h3", {}, "Why is it here?"),
    verdict ? h("p", { class: "note ok", "data-testid": "runnable" }, verdict) : null,
    h("ul", { "data-testid": "reasons" }, ...why.reasons.map((r) => h("li", { "data-code": r.code }, h("code", {}, r.code), " ", r.message))),
  ];
  return nodes.filter((node): node is HTMLElement => node !== null);
}

export function taskPage(root: HTMLElement, queue: string, id: string, signal: AbortSignal): void {
  const path = `${q(queue)}/tasks/${encodeURIComponent(id)}`;
  const view = h("div", {}, note("Loading…"));
  const events = h("ol", { class: "events", "data-testid": "events" });
  const live = h("p", { class: "hint", "data-testid": "live" }, "");
  const why = h("div", { "data-testid": "why" });
  // Asked again at every change the stream reports; a caller without read access to it sees
  // the rest of the page.
  const explain = () =>
    call<Explanation>("GET", `${path}/explain`).then(
      ({ data }) => why.replaceChildren(...renderWhy(data)),
      () => why.replaceChildren(),
    );
  const show = (task: Task) => {
    view.replaceChildren(...render(task, cancel));
    void explain();
  };
  const out = h("div", {});
  const cancel = async () => {
    try {
      const { data } = await call<Task>("DELETE", path);
      show(data);
    } catch (error) {
      out.replaceChildren(note(String((error as Error).message), "error"));
    }
  };
  root.replaceChildren(
    h("p", { class: "crumbs" }, link("#/", "Queues"), " / ", link(`#/queues/${encodeURIComponent(queue)}`, queue), " / ", id),
    h("h2", {}, "Task ", h("code", {}, id)),
    view,
    why,
    out,
    h("h3", {}, "Live events"),
    live,
    events,
  );
  // The stream starts with the task as it is now, then one event per change, and ends when the
  // task is finished.
  live.textContent = "following…";
  followEvents(
    `${path}/events`,
    (name, data) => {
      show(data as Task);
      events.append(h("li", {}, h("code", {}, new Date().toISOString().slice(11, 23)), " ", badge(name)));
    },
    signal,
  )
    .then(() => (live.textContent = "the task is finished; the stream has ended"))
    .catch((error: Error) => {
      if (signal.aborted) return;
      live.textContent = "";
      out.replaceChildren(note(error.message, "error"));
      // Without the stream (a key without the producer role, say), read it once.
      call<Task>("GET", path).then(({ data }) => show(data), () => {});
    });
}
