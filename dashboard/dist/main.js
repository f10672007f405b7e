// The taskgate dashboard: a small single-page app on the public API only. Routes live in the
// URL's hash: #/ (queues), #/queues/<name> (a queue), #/queues/<name>/tasks/<id> (a task),
// #/flows/<id> (a flow), #/workers (every worker).
import { apiKey, setApiKey } from "./api.js";
import { h } from "./dom.js";
import { flowPage } from "./flow.js";
import { queuePage } from "./queue.js";
import { queuesPage } from "./queues.js";
import { taskPage } from "./task.js";
import { workersPage } from "./workers.js";
const root = document.getElementById("app");
let leaving = new AbortController();
function route() {
    leaving.abort();
    leaving = new AbortController();
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    if (parts[0] === "queues" && parts[1] && parts[2] === "tasks" && parts[3])
        taskPage(root, parts[1], parts[3], leaving.signal);
    else if (parts[0] === "queues" && parts[1])
        queuePage(root, parts[1], leaving.signal);
    else if (parts[0] === "flows" && parts[1])
        flowPage(root, parts[1], leaving.signal);
    else if (parts[0] === "workers")
        workersPage(root, leaving.signal);
    else
        queuesPage(root, leaving.signal);
}
function keyForm() {
    const input = h("input", { type: "password", placeholder: "API key", autocomplete: "off", "data-testid": "api-key", value: apiKey() });
    const form = h("form", { class: "key" }, input, h("button", { type: "submit" }, "Use key"));
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        setApiKey(input.value.trim());
        route();
    });
    return form;
}
document.getElementById("key")?.replaceChildren(keyForm());
window.addEventListener("hashchange", route);
route();
