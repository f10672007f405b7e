// Building the page: one helper to make elements, and small pieces every view uses.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** Makes an element: `h("a", { href: "#/" }, "Queues")`. `on<event>` attributes are listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A state name as a coloured badge. */
export function badge(state: string): HTMLElement {
  return h("span", { class: `badge ${state}`, "data-state": state }, state);
}

/** JSON, pretty-printed, in a <pre>. */
export function json(value: unknown, testid?: string): HTMLElement {
  return h("pre", { class: "json", "data-testid": testid }, JSON.stringify(value, null, 2));
}

/** A one-line message under a form or a button: an error (red) or a confirmation. */
export function note(text: string, kind: "error" | "ok" = "ok"): HTMLElement {
  return h("p", { class: `note ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A time as the API gives it, shorter: "2026-11-26 16:40:01". */
export function when(time: unknown): string {
  return typeof time === "string" ? time.replace("T", " ").replace(/\.\d+Z$/, "") : "";
}

/** Labels or requirements as "name=value, ..." (empty for none). */
export function labelText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h("a", { href }, text);
}
