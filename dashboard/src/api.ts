// The dashboard's only way to the server: the public HTTP API, with the API key the user
// entered (kept in this browser's localStorage), and problem+json errors turned into messages.

const KEY = "taskgate.apiKey";

export function apiKey(): string {
  return localStorage.getItem(KEY) ?? "";
}

export function setApiKey(key: string): void {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

/** An answer that was not 2xx: its status and problem document. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly body: { type?: string; title?: string; detail?: string; errors?: { field: string; message: string }[] },
  ) {
    const fields = (body.errors ?? []).map((e) => `${e.field} ${e.message}`).join("; ");
    const hint = status === 401 ? " — enter an API key above" : "";
    super(`${status} ${body.title ?? body.type ?? ""}${body.detail ? `: ${body.detail}` : ""}${fields ? ` (${fields})` : ""}${hint}`);
  }
}

export interface Answer<T> {
  data: T;
  headers: Headers;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const all: Record<string, string> = { accept: "application/json", ...extra };
  const key = apiKey();
  if (key) all.authorization = `Bearer ${key}`;
  return all;
}

/** One API call. Throws `Problem` for an answer that is not 2xx. */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  extra: Record<string, string> = {},
): Promise<Answer<T>> {
  const init: RequestInit = { method, headers: headers(extra) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Problem(response.status, data ?? {});
  return { data: data as T, headers: response.headers };
}

/** How a save of an editor's JSON ended: saved, refused as stale (`412`), or an error to show. */
export type Saved = "saved" | "stale" | { error: string };

/**
 * PUTs the JSON text of an editor to `path`, only if it is still at `etag` (`If-Match`); with
 * `etag` null, only if nothing is there yet (`If-None-Match: *`), so a new one never replaces
 * one created meanwhile.
 */
export async function saveJson(path: string, text: string, etag: string | null): Promise<Saved> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON: ${(error as Error).message}` };
  }
  try {
    await call("PUT", path, body, etag === null ? { "if-none-match": "*" } : { "if-match": etag });
    return "saved";
  } catch (error) {
    if (error instanceof Problem && error.status === 412) return "stale";
    return { error: String((error as Error).message) };
  }
}

export const q = (queue: string) => `/v1/queues/${encodeURIComponent(queue)}`;

/**
 * Follows a task's Server-Sent Events (`GET …/events`). EventSource cannot send an
 * Authorization header, so this reads the stream with fetch. Calls `onEvent` per event until
 * the stream ends or `signal` aborts.
 */
export async function followEvents(
  path: string,
  onEvent: (name: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(path, { headers: headers({ accept: "text/event-stream" }), signal });
  if (!response.ok || !response.body) {
    const text = await response.text();
    throw new Problem(response.status, text ? JSON.parse(text) : {});
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}
