#!/usr/bin/env python3
"""A complete taskgate worker in plain Python (standard library only). Copy it and put your
work in `process()`.

What it does, and why:
  * Leases only what it can work on now (`--concurrency` tasks at once), so no task it holds
    sits waiting while its lease runs out; it long-polls (2 s), so it never busy-polls.
  * Heartbeats every task it holds, on a schedule taken from the server's `expires_in_ms`
    (a third of the lease), so slow jobs keep their leases without trusting the local clock;
    each heartbeat carries the task's latest progress report (`report()` in `process`), which
    the task's page and event stream show.
  * Rides out taskgate restarts, network errors and 503s with capped, jittered backoff.
  * Retries only calls that are safe to retry: a lease call with the same `request_id`, an ack
    or a fail with the same `lease_id` (taskgate answers a repeat with `Idempotent-Replayed`).
  * Drops the work on `409 lease-lost`: the task was given to someone else; retrying is pointless.
  * Stops gracefully on SIGINT/SIGTERM: no new leases, current tasks finish and are acked (a
    second signal fails them for a retry instead), then it exits.
  * Sends its API key (`--key` or $TASKGATE_KEY, a key with the `worker` role) on every call,
    and stops at once if the server refuses it (401/403 will not fix themselves).
  * Reads each leased task on its own: one it cannot read (JSON nested deeper than Python's
    parser goes, say) is failed with a clear error, and the others leased with it are worked on.
    A result the server refuses (too large, too deep) fails the task the same way.

Demo behaviour of `process()`: it echoes the payload back as the result; a payload object with
"sleep_ms" sleeps that long first, in ten steps, reporting {"done": n, "of": 10} after each, and
one with "fail": true raises (the attempt fails).
"""
import argparse
import json
import logging
import os
import random
import re
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid

log = logging.getLogger("worker")

# Deepest nesting of arrays and objects this worker reads in a lease (the task's payload sits 2
# levels down). Python's json module gives up at about 1000, and so does code that walks a
# payload recursively; taskgate refuses payloads deeper than 64 unless its operator raised that.
MAX_DEPTH = 500


# A lease answer is split into its leases without parsing it whole, so that one task the
# parser cannot read does not make the whole answer (and every task in it) unreadable. The
# scan below never recurses: it jumps from one string or bracket to the next.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRUCTURE = re.compile(r'["\[\]{}]')
_SPACE = re.compile(r"\s*")
_SCALAR_END = re.compile(r"[,\]}\s]|$")


def _value_end(text, at):
    """Where the JSON value starting at `at` ends."""
    if text[at] == '"':
        return _STRING.match(text, at).end()
    if text[at] not in "[{":
        return _SCALAR_END.search(text, at).start()
    depth = 0
    while True:
        found = _STRUCTURE.search(text, at)
        if found is None:
            raise ValueError("the JSON text ends inside a value")
        if found.group() == '"':
            at = _STRING.match(text, found.start()).end()
            continue
        depth += 1 if found.group() in "[{" else -1
        at = found.end()
        if depth == 0:
            return at


def _items(text, at=0):
    """The members of the object (key, text) or the items of the array (None, text) at `at`."""
    at = _SPACE.match(text, at).end()
    close = "}" if text[at] == "{" else "]"
    at += 1
    while True:
        at = _SPACE.match(text, at).end()
        if text[at] == close:
            return
        if text[at] == ",":
            at += 1
            continue
        key = None
        if close == "}":
            end = _STRING.match(text, at).end()
            key = json.loads(text[at:end])
            at = _SPACE.match(text, end).end() + 1  # past the ':'
            at = _SPACE.match(text, at).end()
        end = _value_end(text, at)
        yield key, text[at:end]
        at = end


def member(text, name):
    """The JSON text of member `name` of the object `text`, or None."""
    return next((value for key, value in _items(text) if key == name), None)


def depth(text):
    """How deeply `text` nests arrays and objects."""
    deepest = level = at = 0
    while True:
        found = _STRUCTURE.search(text, at)
        if found is None:
            return deepest
        if found.group() == '"':
            at = _STRING.match(text, found.start()).end()
            continue
        level += 1 if found.group() in "[{" else -1
        deepest = max(deepest, level)
        at = found.end()


def read_lease(text):
    """A lease (its JSON text) as Python values; raises ValueError when it cannot be read."""
    nested = depth(text)
    if nested > MAX_DEPTH:
        raise ValueError(f"it is nested {nested} levels deep; this worker reads at most {MAX_DEPTH}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None


class LeaseLost(Exception):
    """The lease is gone (409 lease-lost): the work will not be recorded."""


class Client:
    """Calls taskgate, retrying what is safe to retry until it succeeds or `stopping` is set."""

    def __init__(self, base, stopping, key=None):
        self.base = base.rstrip("/")
        self.stopping = stopping
        self.headers = {"content-type": "application/json"}
        if key:
            self.headers["authorization"] = f"Bearer {key}"

    def post(self, path, body, raw=False):
        """One POST; returns (status, JSON body), or (status, text) with `raw`. An answer that
        cannot be read as JSON is an empty object. Network errors raise OSError."""
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers=self.headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=35) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        if raw:
            return status, text
        try:
            answer = json.loads(text)
        except (ValueError, RecursionError):
            answer = {}
        return status, answer if isinstance(answer, dict) else {}

    def retrying(self, what, path, body, give_up=None, max_delay=10.0, raw=False):
        """POSTs until an answer that is not a network error, 408, 429 or 5xx, with backoff
        capped at `max_delay` seconds. Returns (status, body), or None if `give_up` was set."""
        delay = min(0.1, max_delay)
        while True:
            try:
                status, answer = self.post(path, body, raw)
                if status not in (408, 429) and status < 500:
                    return status, answer
                problem = f"{status} {answer.get('type', '') if isinstance(answer, dict) else ''}"
            except OSError as error:
                problem = str(getattr(error, "reason", error))
            if give_up is not None and give_up.is_set():
                return None
            log.warning("%s: %s; retrying in %.1fs", what, problem, delay)
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, max_delay)


def process(payload, report):
    """Your work goes here. Return the result (any JSON value); raise to fail the attempt.
    `report(progress)` (any JSON value, up to 4096 bytes) is sent with the next heartbeat."""
    if isinstance(payload, dict):
        steps = 10 if payload.get("sleep_ms") else 0
        for done in range(1, steps + 1):
            time.sleep(payload["sleep_ms"] / 1000 / steps)
            report({"done": done, "of": steps})
        if payload.get("fail"):
            raise RuntimeError("the payload asked to fail")
    return {"echo": payload}


class Job:
    """One leased task: keeps its lease alive while `process` runs, then acks or fails it."""

    def __init__(self, client, queue_path, lease, abandon):
        self.client = client
        self.lease = lease
        self.task_id = lease["task"]["id"]
        self.path = f"{queue_path}/tasks/{self.task_id}"
        self.abandon = abandon  # set by a second signal: fail instead of finishing
        self.done = threading.Event()
        self.lost = threading.Event()
        self.progress = None  # the latest report, sent with the next heartbeat

    def report(self, progress):
        self.progress = progress

    def run(self):
        beater = threading.Thread(target=self.heartbeat, daemon=True)
        beater.start()
        try:
            try:
                result = process(self.lease["task"]["payload"], self.report)
                outcome = ("ack", {"result": result})
            except Exception as error:  # the attempt failed: taskgate retries it with backoff
                outcome = ("fail", {"error": f"{type(error).__name__}: {error}"})
            if self.abandon.is_set() and outcome[0] == "ack":
                outcome = ("fail", {"error": "worker stopped before finishing", "retry": True})
            self.finish(*outcome)
        except LeaseLost:
            log.warning("task %s: lease lost; its work is not recorded", self.task_id)
        finally:
            self.done.set()
            beater.join()

    def heartbeat(self):
        """Extends the lease every third of its length, as measured by the server. A failed
        heartbeat is retried often (a tenth of the lease), so a short outage never costs it."""
        wait_s = self.lease["expires_in_ms"] / 3000
        sent = None
        while not self.done.wait(wait_s):
            body = {"lease_id": self.lease["lease_id"]}
            progress = self.progress
            if progress is not None and progress != sent:
                body["progress"] = progress
            answer = self.client.retrying(
                f"heartbeat {self.task_id}",
                self.path + "/heartbeat",
                body,
                give_up=self.done,
                max_delay=max(0.05, wait_s * 3 / 10),
            )
            if answer is None:
                return
            status, body = answer
            if status == 409:
                self.lost.set()
                log.warning("task %s: lease lost while working on it", self.task_id)
                return
            if status == 200:
                sent = progress
                wait_s = body["expires_in_ms"] / 3000
            elif status == 413:
                # A report over the server's bound: dropped, and the next heartbeat goes without.
                log.error("task %s: progress refused: %s", self.task_id, body.get("detail"))
                sent = progress

    def finish(self, verb, body):
        if self.lost.is_set():
            raise LeaseLost()
        body["lease_id"] = self.lease["lease_id"]
        # Safe to repeat: a retried ack or fail with the same lease is answered as a replay.
        status, answer = self.client.retrying(f"{verb} {self.task_id}", f"{self.path}/{verb}", body)
        if status == 409:
            raise LeaseLost()
        if verb == "ack" and status in (413, 422):
            # The server refused the result (too large, nested too deep): the work cannot be
            # recorded, so fail the attempt and say why rather than let the lease run out.
            error = f"taskgate refused the result: {answer.get('detail', status)}"
            log.error("task %s: %s", self.task_id, error)
            return self.finish("fail", {"error": error})
        if status != 200:
            log.error("task %s: %s answered %s: %s", self.task_id, verb, status, answer)
            return
        if verb == "ack":
            log.info("task %s: completed", self.task_id)
        else:
            log.info("task %s: failed (%s), now %s", self.task_id, body["error"],
                     answer.get("state", "?"))


def fail_unreadable(client, queue_path, text, why):
    """Fails a leased task this worker cannot read, with a clear error, so it is retried (maybe
    by another worker) or goes dead instead of waiting for its lease to run out."""
    try:
        lease_id = json.loads(member(text, "lease_id"))
        task_id = json.loads(member(member(text, "task"), "id"))
    except (ValueError, TypeError) as error:
        log.error("a lease could not be read, nor its ids (%s): %s", error, why)
        return
    error = f"this worker cannot read the task: {why}"
    log.error("task %s: %s", task_id, error)
    status, answer = client.retrying(f"fail {task_id}", f"{queue_path}/tasks/{task_id}/fail",
                                     {"lease_id": lease_id, "error": error})
    if status != 200:
        log.error("task %s: fail answered %s: %s", task_id, status, answer)


def main():
    parser = argparse.ArgumentParser(
        description="Lease tasks from a taskgate queue, work on them, and ack or fail each one.",
        epilog="Example: worker.py --base http://127.0.0.1:8080 --queue emails --concurrency 4",
    )
    parser.add_argument("--base", default=os.environ.get("TASKGATE_URL", "http://127.0.0.1:8080"),
                        help="taskgate's base URL (default $TASKGATE_URL or http://127.0.0.1:8080)")
    parser.add_argument("--key", default=os.environ.get("TASKGATE_KEY"),
                        help="API key with the worker role (default $TASKGATE_KEY; none if the "
                             "server runs without keys)")
    parser.add_argument("--queue", required=True, help="the queue to work on")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="tasks worked on at once; no more are leased (default 1)")
    parser.add_argument("--lease-ms", type=int, default=None,
                        help="lease length to ask for (default: the task's, else the queue's)")
    parser.add_argument("--name", default=f"python-{os.getpid()}", help="worker name shown on tasks")
    parser.add_argument("--drain", action="store_true",
                        help="exit once the queue has nothing ready and nothing is in progress")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    stopping, abandon = threading.Event(), threading.Event()

    def on_signal(signum, _frame):
        if stopping.is_set():
            log.info("second signal: failing unfinished tasks so they are retried elsewhere")
            abandon.set()
        else:
            log.info("signal %s: finishing current tasks, leasing no more", signum)
            stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    client = Client(args.base, stopping, args.key)
    queue_path = f"/v1/queues/{args.queue}"
    running = []
    while not stopping.is_set():
        running = [thread for thread in running if thread.is_alive()]
        free = args.concurrency - len(running)
        if free == 0:
            time.sleep(0.05)
            continue
        # A 2 s long poll: no busy polling, and a stop request is noticed within 2 s.
        body = {"worker": args.name, "max_tasks": free, "request_id": uuid.uuid4().hex,
                "wait_ms": 0 if args.drain else 2000}
        if args.lease_ms:
            body["lease_ms"] = args.lease_ms
        # One request_id per logical call: if its answer is lost, the retry returns the same
        # leases instead of taking (and stranding) more tasks.
        answer = client.retrying("lease", queue_path + "/leases", body, give_up=stopping, raw=True)
        if answer is None:
            break
        status, text = answer
        if status != 200:
            try:
                problem = json.loads(text)
            except ValueError:
                problem = {"detail": text}
            if status in (401, 403):
                log.error("taskgate refused this worker (%s %s): %s", status,
                          problem.get("type"), problem.get("detail"))
                raise SystemExit(2)
            log.error("lease answered %s: %s", status, problem)
            time.sleep(1)
            continue
        # Each lease is read on its own: one unreadable task is failed, the rest are worked on.
        leases = [lease for _, lease in _items(member(text, "leases") or "[]")]
        for raw_lease in leases:
            try:
                lease = read_lease(raw_lease)
                target = Job(client, queue_path, lease, abandon).run
            except ValueError as why:
                target = lambda raw=raw_lease, why=why: fail_unreadable(client, queue_path, raw, why)
            thread = threading.Thread(target=target)
            thread.start()
            running.append(thread)
        if not leases and args.drain:
            if not running:
                break
            time.sleep(0.5)  # nothing ready, but tasks in progress may fail and come back
    for thread in running:
        thread.join()
    log.info("worker stopped")


if __name__ == "__main__":
    main()
