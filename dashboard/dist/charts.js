// A queue's history as two charts, drawn from GET /v1/queues/{queue}/history: throughput
// (tasks submitted and completed per minute) and backlog (ready and leased tasks, as sampled),
// over the last hour or day. The server keeps the history; the page only draws it.
import { call, q } from "./api.js";
import { h, note } from "./dom.js";
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 120;
function svg(tag, attrs) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs))
        element.setAttribute(name, String(value));
    return element;
}
/** One chart: a line per series, broken where a minute has no sample, scaled to the largest value. */
function chart(title, testid, series, points) {
    const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
    const step = points.length > 1 ? WIDTH / (points.length - 1) : WIDTH;
    const drawing = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": title });
    for (const line of series) {
        let run = [];
        // A run of one sampled minute between gaps is a dot: a line needs two.
        const flush = () => {
            if (run.length > 1)
                drawing.append(svg("polyline", { points: run.join(" "), class: line.className, "data-series": line.name }));
            const [x = "0", y = "0"] = run.length === 1 ? (run[0] ?? "").split(",") : [];
            if (run.length === 1)
                drawing.append(svg("circle", { cx: x, cy: y, r: 2, class: line.className, "data-series": line.name }));
            run = [];
        };
        line.values.forEach((value, i) => {
            if (value === null)
                return flush();
            run.push(`${(i * step).toFixed(1)},${(HEIGHT - (value / max) * (HEIGHT - 4)).toFixed(1)}`);
        });
        flush();
    }
    const sums = Object.fromEntries(series.map((s) => [`data-sum-${s.name}`, s.values.reduce((a, v) => a + (v ?? 0), 0)]));
    const legend = series.map((s) => h("span", { class: `legend ${s.className}` }, s.name));
    return h("figure", { "data-testid": testid, "data-points": points.length, "data-max": max, ...sums }, h("figcaption", {}, title, " ", h("small", {}, `(max ${max})`), " ", ...legend), drawing);
}
/** The history section of a queue's page, and how to refresh it. */
export function historySection(queue) {
    let window = "1h";
    const body = h("div", {}, note("Loading…"));
    const tabs = h("nav", { class: "tabs" });
    const refresh = async () => {
        try {
            const { data } = await call("GET", `${q(queue)}/history?window=${window}`);
            const p = data.points;
            body.replaceChildren(chart("Throughput per minute", "chart-throughput", [
                { name: "submitted", className: "s1", values: p.map((x) => x.submitted) },
                { name: "completed", className: "s2", values: p.map((x) => x.completed) },
            ], p), chart("Backlog", "chart-backlog", [
                { name: "backlog", className: "s1", values: p.map((x) => x.backlog) },
                { name: "in_flight", className: "s2", values: p.map((x) => x.in_flight) },
            ], p));
        }
        catch (error) {
            body.replaceChildren(note(String(error.message), "error"));
        }
    };
    const select = (next) => {
        window = next;
        for (const tab of tabs.children)
            tab.classList.toggle("active", tab.getAttribute("data-window") === next);
        void refresh();
    };
    tabs.append(...["1h", "24h"].map((w) => h("button", { "data-window": w, onclick: () => select(w) }, `last ${w === "1h" ? "hour" : "day"}`)));
    select("1h");
    return { element: h("section", { class: "history", "data-testid": "history" }, h("h3", {}, "History"), tabs, body), refresh };
}
