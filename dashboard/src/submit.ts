// The submit form, on the queues page (any queue name) and on a queue's page (that queue).

import { call, q } from "./api.js";
import { h, link, note } from "./dom.js";
import type { Task } from "./types.js";

export function submitForm(fixedQueue?: string): HTMLElement {
  const queue = h("input", { name: "queue", required: true, pattern: "[A-Za-z0-9._-]{1,128}", placeholder: "emails", value: fixedQueue ?? "" });
  const payload = h("textarea", { name: "payload", rows: 3, spellcheck: false }, '{"hello": "world"}');
  const priority = h("input", { name: "priority", type: "number", min: -1000, max: 1000, placeholder: "0" });
  const delay = h("input", { name: "delay_ms", type: "number", min: 0, placeholder: "0" });
  const out = h("div", { class: "out" });
  const form = h(
    "form",
    { class: "submit", "data-testid": "submit-form" },
    h("h3", {}, "Submit a task"),
    fixedQueue ? null : h("label", {}, "Queue ", queue),
    h("label", {}, "Payload (JSON) ", payload),
    h("div", { class: "row" }, h("label", {}, "Priority ", priority), h("label", {}, "Delay (ms) ", delay)),
    h("button", { type: "submit" }, "Submit"),
    out,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren();
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.value);
    } catch (error) {
      out.append(note(`payload is not JSON: ${(error as Error).message}`, "error"));
      return;
    }
    const body: Record<string, unknown> = { payload: parsed };
    if (priority.value) body.priority = Number(priority.value);
    if (delay.value) body.delay_ms = Number(delay.value);
    const name = fixedQueue ?? queue.value;
    try {
      const { data } = await call<Task>("POST", `${q(name)}/tasks`, body);
      out.append(h("p", { class: "note ok", role: "status" }, "Submitted ", link(`#/queues/${encodeURIComponent(name)}/tasks/${data.id}`, data.id)));
    } catch (error) {
      out.append(note(String((error as Error).message), "error"));
    }
  });
  return form;
}
