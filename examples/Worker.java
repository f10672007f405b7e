// A taskgate worker in Java 17 with only the JDK (java.net.http). Run it as a single file:
//
//   java examples/Worker.java --base http://127.0.0.1:8080 --queue emails --concurrency 4
//
// Copy it and put your work in `work()`. What it does, and why:
// * Leases only what it can work on now (--concurrency tasks at once), with a 2 s long poll.
// * Heartbeats each task every third of its lease, timed by the server's `expires_in_ms`; each
//   heartbeat carries the task's latest progress (`report` in `work()`), which the task's page
//   and event stream show.
// * Retries only calls that are safe to repeat (a lease with the same request_id, an ack or a
//   fail with the same lease_id), on network errors, 408, 429 and 5xx, with capped backoff.
// * On 409 lease-lost it drops the work: the task belongs to someone else now.
// * SIGINT/SIGTERM: it leases no more, finishes and acks the tasks it holds, then exits 0.
// * Sends its API key (--key or $TASKGATE_KEY); exits 2 at once if the server refuses it.
// * Reads each leased task on its own: one it cannot read (JSON nested deeper than it reads)
//   is failed with a clear error, and the others leased with it are worked on. A result the
//   server refuses (too large, too deep) fails the task the same way.
//
// The JDK has no JSON library, so a small reader and writer for JSON values is at the end.
// Demo `work()`: echoes the payload as the result; a payload with "sleep_ms" sleeps first, in ten
// steps, reporting {"done": n, "of": 10} after each; one with "fail": true throws (the attempt
// fails and taskgate retries it).

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

public class Worker {
    /** Your work goes here: return the result (any JSON value), or throw to fail the attempt.
     * {@code report.accept(progress)} (any JSON value, up to 4096 bytes) is sent with the next
     * heartbeat. */
    static Object work(Object payload, Consumer<Object> report) throws Exception {
        if (payload instanceof Map<?, ?> map) {
            if (map.get("sleep_ms") instanceof Number ms) {
                for (int done = 1; done <= 10; done++) {
                    Thread.sleep(ms.longValue() / 10);
                    Map<String, Object> progress = new LinkedHashMap<>();
                    progress.put("done", done);
                    progress.put("of", 10);
                    report.accept(progress);
                }
            }
            if (Boolean.TRUE.equals(map.get("fail"))) throw new Exception("the payload asked to fail");
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("echo", payload);
        return result;
    }

    /** An answer: its status, its JSON body (an empty map when it cannot be read), its text. */
    record Answer(int status, Object body, String text) {
        Object get(String field) { return body instanceof Map<?, ?> m ? m.get(field) : null; }
    }

    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static String base;
    static String key;
    static volatile boolean stopping;

    static void log(String line) { System.err.println(Instant.now() + " " + line); }

    /** One POST. Network errors throw. */
    static Answer post(String path, Map<String, Object> body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(35))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body)));
        if (key != null && !key.isEmpty()) request.header("authorization", "Bearer " + key);
        HttpResponse<String> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        String text = response.body();
        Object parsed;
        try {
            parsed = text.isEmpty() ? Map.of() : Json.read(text);
        } catch (RuntimeException e) {
            parsed = Map.of(); // not JSON we can read (too deep, a proxy's page): the status tells
        }
        return new Answer(response.statusCode(), parsed, text);
    }

    /** POSTs until an answer that is not a network error, 408, 429 or 5xx; null if giveUp. */
    static Answer retrying(String what, String path, Map<String, Object> body, BooleanSupplier giveUp, long maxDelayMs)
            throws InterruptedException {
        long delay = Math.min(100, maxDelayMs);
        while (true) {
            String problem;
            try {
                Answer answer = post(path, body);
                if (answer.status() != 408 && answer.status() != 429 && answer.status() < 500) return answer;
                problem = answer.status() + " " + answer.get("type");
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                problem = e.toString();
            }
            if (giveUp.getAsBoolean()) return null;
            log(what + ": " + problem + "; retrying in " + delay + " ms");
            Thread.sleep((long) (delay * ThreadLocalRandom.current().nextDouble(0.8, 1.2)));
            delay = Math.min(delay * 2, maxDelayMs);
        }
    }

    /** Works on one leased task, heartbeating meanwhile, then acks or fails it. */
    static void handle(String queuePath, Map<?, ?> lease) throws InterruptedException {
        Map<?, ?> task = (Map<?, ?>) lease.get("task");
        String id = (String) task.get("id");
        String leaseId = (String) lease.get("lease_id");
        String path = queuePath + "/tasks/" + id;
        CountDownLatch done = new CountDownLatch(1);
        boolean[] lost = {false};
        AtomicReference<Object> progress = new AtomicReference<>(); // the latest report
        Thread beater = new Thread(() -> {
            long every = ((Number) lease.get("expires_in_ms")).longValue() / 3;
            Object sent = null;
            try {
                while (!done.await(every, TimeUnit.MILLISECONDS)) {
                    Map<String, Object> beat = new LinkedHashMap<>();
                    beat.put("lease_id", leaseId);
                    Object latest = progress.get();
                    if (latest != null && latest != sent) beat.put("progress", latest);
                    Answer answer = retrying("heartbeat " + id, path + "/heartbeat", beat,
                            () -> done.getCount() == 0, Math.max(50, every * 3 / 10));
                    if (answer == null) return;
                    if (answer.status() == 409) {
                        lost[0] = true;
                        log("task " + id + ": lease lost while working on it");
                        return;
                    }
                    if (answer.status() == 200) every = ((Number) answer.get("expires_in_ms")).longValue() / 3;
                    if (answer.status() == 413) log("task " + id + ": progress refused: " + answer.get("detail"));
                    if (answer.status() == 200 || answer.status() == 413) sent = latest; // a refused report is dropped
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        beater.start();
        String verb;
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("lease_id", leaseId);
        try {
            body.put("result", work(task.get("payload"), progress::set));
            verb = "ack";
        } catch (Exception e) {
            body.put("error", e.toString());
            verb = "fail";
        }
        done.countDown();
        beater.join();
        if (lost[0]) {
            log("task " + id + ": lease lost; its work is not recorded");
            return;
        }
        Answer answer = retrying(verb + " " + id, path + "/" + verb, body, () -> false, 10_000);
        if (verb.equals("ack") && (answer.status() == 413 || answer.status() == 422)) {
            // The server refused the result (too large, nested too deep): fail the attempt,
            // saying why, rather than let the lease run out.
            String error = "taskgate refused the result: " + answer.get("detail");
            log("task " + id + ": " + error);
            body.remove("result");
            body.put("error", error);
            verb = "fail";
            answer = retrying(verb + " " + id, path + "/" + verb, body, () -> false, 10_000);
        }
        if (answer.status() == 409) log("task " + id + ": lease lost; its work is not recorded");
        else if (answer.status() != 200) log("task " + id + ": " + verb + " answered " + answer.status() + " " + Json.write(answer.body()));
        else if (verb.equals("ack")) log("task " + id + ": completed");
        else log("task " + id + ": failed (" + body.get("error") + "), now " + answer.get("state"));
    }

    /** Fails a leased task this worker cannot read, with a clear error, so it is retried (maybe
     * by another worker) or goes dead instead of waiting for its lease to run out. */
    static void failUnreadable(String queuePath, String text, String why) throws InterruptedException {
        String leaseId;
        String id;
        try {
            leaseId = (String) Json.read(Json.member(text, "lease_id"));
            id = (String) Json.read(Json.member(Json.member(text, "task"), "id"));
        } catch (RuntimeException e) {
            log("a lease could not be read, nor its ids (" + e + "): " + why);
            return;
        }
        String error = "this worker cannot read the task: " + why;
        log("task " + id + ": " + error);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("lease_id", leaseId);
        body.put("error", error);
        Answer answer = retrying("fail " + id, queuePath + "/tasks/" + id + "/fail", body, () -> false, 10_000);
        if (answer.status() != 200) log("task " + id + ": fail answered " + answer.status() + " " + answer.text());
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) opts.put(args[i], args[i + 1]);
        if (!opts.containsKey("--queue")) {
            System.out.println("usage: java Worker.java --queue NAME [--base URL] [--key KEY] [--name NAME] [--concurrency N]");
            System.exit(2);
        }
        base = opts.getOrDefault("--base", System.getenv().getOrDefault("TASKGATE_URL", "http://127.0.0.1:8080"))
                .replaceAll("/+$", "");
        key = opts.getOrDefault("--key", System.getenv("TASKGATE_KEY"));
        String name = opts.getOrDefault("--name", "java-" + ProcessHandle.current().pid());
        int concurrency = Integer.parseInt(opts.getOrDefault("--concurrency", "1"));
        String queuePath = "/v1/queues/" + opts.get("--queue");

        // SIGINT/SIGTERM: stop leasing and let the work finish. (A shutdown hook would run only
        // as the JVM exits, with status 143; sun.misc.Signal, in every JDK, lets main end
        // normally with 0.)
        for (String signal : new String[] {"INT", "TERM"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(signal), s -> {
                log("SIG" + signal + ": finishing current tasks, leasing no more");
                stopping = true;
            });
        }

        Semaphore free = new Semaphore(concurrency);
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        int exitCode = 0;
        while (!stopping) {
            free.acquire();
            int slots = 1 + free.drainPermits();
            Map<String, Object> request = new LinkedHashMap<>();
            request.put("worker", name);
            request.put("max_tasks", slots);
            // A fresh request_id per call: a retry of this call returns the leases it granted.
            request.put("request_id", UUID.randomUUID().toString());
            request.put("wait_ms", 2000);
            Answer answer = retrying("lease", queuePath + "/leases", request, () -> stopping, 10_000);
            // Each lease is read on its own: one unreadable task is failed, the rest worked on.
            List<String> leases = new ArrayList<>();
            if (answer != null && answer.status() == 200) {
                String list = Json.member(answer.text(), "leases");
                for (Map.Entry<String, String> item : Json.items(list == null ? "[]" : list)) leases.add(item.getValue());
            }
            free.release(slots - leases.size());
            if (answer == null) break;
            if (answer.status() == 401 || answer.status() == 403) {
                log("taskgate refused this worker (" + answer.status() + " " + answer.get("type") + "): " + answer.get("detail"));
                exitCode = 2;
                break;
            }
            if (answer.status() != 200) {
                log("lease answered " + answer.status() + " " + answer.text());
                Thread.sleep(1000);
                continue;
            }
            for (String text : leases) {
                pool.submit(() -> {
                    try {
                        Map<?, ?> lease;
                        try {
                            lease = (Map<?, ?>) Json.read(text);
                        } catch (RuntimeException e) {
                            failUnreadable(queuePath, text, e.getMessage());
                            return null;
                        }
                        handle(queuePath, lease);
                    } catch (Exception e) {
                        log("task: " + e);
                    } finally {
                        free.release();
                    }
                    return null;
                });
            }
        }
        pool.shutdown();
        pool.awaitTermination(1, TimeUnit.DAYS);
        log("worker stopped");
        if (exitCode != 0) System.exit(exitCode);
    }

    /** A small JSON reader and writer: objects are LinkedHashMaps, arrays Lists, numbers Long or
     * Double. The reader recurses, so it refuses JSON nested deeper than MAX_DEPTH (a lease's
     * payload sits 2 levels down; taskgate refuses payloads deeper than 64 unless its operator
     * raised that) instead of running out of stack; `items`, `member` and `depth` scan JSON
     * text without recursing at all. */
    static final class Json {
        static final int MAX_DEPTH = 500;
        private final String text;
        private int at;
        private int depth;

        private Json(String text) { this.text = text; }

        static Object read(String text) {
            Json json = new Json(text);
            Object value = json.value();
            json.space();
            if (json.at != text.length()) throw new IllegalArgumentException("trailing text at " + json.at);
            return value;
        }

        static String write(Object value) {
            StringBuilder out = new StringBuilder();
            write(value, out);
            return out.toString();
        }

        private static void write(Object value, StringBuilder out) {
            if (value == null) out.append("null");
            else if (value instanceof String s) quote(s, out);
            else if (value instanceof Number || value instanceof Boolean) out.append(value);
            else if (value instanceof Map<?, ?> map) {
                out.append('{');
                String comma = "";
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    out.append(comma);
                    quote(String.valueOf(entry.getKey()), out);
                    out.append(':');
                    write(entry.getValue(), out);
                    comma = ",";
                }
                out.append('}');
            } else if (value instanceof List<?> list) {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) out.append(',');
                    write(list.get(i), out);
                }
                out.append(']');
            } else quote(value.toString(), out);
        }

        private static void quote(String s, StringBuilder out) {
            out.append('"');
            for (char c : s.toCharArray()) {
                if (c == '"' || c == '\\') out.append('\\').append(c);
                else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                else out.append(c);
            }
            out.append('"');
        }

        private void space() { while (at < text.length() && Character.isWhitespace(text.charAt(at))) at++; }

        private Object value() {
            space();
            char c = text.charAt(at);
            if (c == '{') return object();
            if (c == '[') return array();
            if (c == '"') return string();
            if (text.startsWith("true", at)) { at += 4; return true; }
            if (text.startsWith("false", at)) { at += 5; return false; }
            if (text.startsWith("null", at)) { at += 4; return null; }
            return number();
        }

        private void deeper() {
            if (++depth > MAX_DEPTH) {
                throw new IllegalArgumentException("it is nested " + depth(text) + " levels deep; this worker reads at most " + MAX_DEPTH);
            }
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            deeper();
            at++;
            space();
            if (text.charAt(at) == '}') { at++; depth--; return map; }
            while (true) {
                space();
                String name = string();
                space();
                expect(':');
                map.put(name, value());
                space();
                if (text.charAt(at++) == '}') { depth--; return map; }
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            deeper();
            at++;
            space();
            if (text.charAt(at) == ']') { at++; depth--; return list; }
            while (true) {
                list.add(value());
                space();
                if (text.charAt(at++) == ']') { depth--; return list; }
            }
        }

        /** Where the JSON value starting at `from` ends, without recursing. */
        static int end(String text, int from) {
            int level = 0;
            int at = from;
            do {
                char c = text.charAt(at);
                if (c == '"') {
                    at++;
                    while (text.charAt(at) != '"') at += text.charAt(at) == '\\' ? 2 : 1;
                } else if (c == '[' || c == '{') {
                    level++;
                } else if (c == ']' || c == '}') {
                    level--;
                } else if (level == 0) {
                    while (at + 1 < text.length() && ",]} \t\r\n".indexOf(text.charAt(at + 1)) < 0) at++;
                }
                at++;
            } while (level > 0);
            return at;
        }

        /** The members (key, text) of the object, or the items (null, text) of the array, `text`. */
        static List<Map.Entry<String, String>> items(String text) {
            List<Map.Entry<String, String>> found = new ArrayList<>();
            Json json = new Json(text);
            json.space();
            char close = text.charAt(json.at) == '{' ? '}' : ']';
            json.at++;
            while (true) {
                json.space();
                char c = text.charAt(json.at);
                if (c == close) return found;
                if (c == ',') { json.at++; continue; }
                String key = null;
                if (close == '}') {
                    key = json.string();
                    json.space();
                    json.expect(':');
                    json.space();
                }
                int end = end(text, json.at);
                found.add(new java.util.AbstractMap.SimpleEntry<>(key, text.substring(json.at, end)));
                json.at = end;
            }
        }

        /** The JSON text of member `name` of the object `text`, or null. */
        static String member(String text, String name) {
            for (Map.Entry<String, String> item : items(text)) if (name.equals(item.getKey())) return item.getValue();
            return null;
        }

        /** How deeply `text` nests arrays and objects, without recursing. */
        static int depth(String text) {
            int deepest = 0;
            int level = 0;
            for (int at = 0; at < text.length(); at++) {
                char c = text.charAt(at);
                if (c == '"') {
                    at++;
                    while (text.charAt(at) != '"') at += text.charAt(at) == '\\' ? 2 : 1;
                } else if (c == '[' || c == '{') {
                    deepest = Math.max(deepest, ++level);
                } else if (c == ']' || c == '}') {
                    level--;
                }
            }
            return deepest;
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (true) {
                char c = text.charAt(at++);
                if (c == '"') return out.toString();
                if (c != '\\') { out.append(c); continue; }
                char e = text.charAt(at++);
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'u' -> { out.append((char) Integer.parseInt(text.substring(at, at + 4), 16)); at += 4; }
                    default -> out.append(e);
                }
            }
        }

        private Number number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            String n = text.substring(start, at);
            if (n.isEmpty()) throw new IllegalArgumentException("unexpected character at " + start);
            return n.contains(".") || n.contains("e") || n.contains("E") ? (Number) Double.parseDouble(n) : (Number) Long.parseLong(n);
        }

        private void expect(char c) {
            if (text.charAt(at++) != c) throw new IllegalArgumentException("expected " + c + " at " + (at - 1));
        }
    }
}
