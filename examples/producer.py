#!/usr/bin/env python3
"""Submit one task to taskgate and, with --wait, wait for its result (standard library only).

    producer.py --queue emails --payload '{"to": "ada@example.com"}' --wait 30000

It sends an Idempotency-Key made once per task, so retrying the submit after a network error,
a timeout or a 5xx can never create a second task: a repeat is answered with the first task.
It prints the task id, then (with --wait) the result. Exit status: 0 completed (or submitted,
without --wait), 1 dead or cancelled or still running at the end of the wait, 2 refused (4xx).
"""
import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(base, key, method, path, body=None, headers=None):
    """One request; returns (status, JSON body). Network errors raise OSError."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key:
        all_headers["authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=70) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.load(error)
        except ValueError:
            return error.code, {}


def retrying(what, attempt, tries=8):
    """Calls attempt() until it answers something other than a network error, 408, 429 or 5xx."""
    delay = 0.2
    for n in range(tries):
        try:
            status, body = attempt()
            if status not in (408, 429) and status < 500:
                return status, body
            problem = f"{status} {body.get('type', '')}"
        except OSError as error:
            problem = str(getattr(error, "reason", error))
        if n + 1 == tries:
            sys.exit(f"{what}: giving up after {tries} tries: {problem}")
        print(f"{what}: {problem}; retrying in {delay:.1f}s", file=sys.stderr)
        time.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=os.environ.get("TASKGATE_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("TASKGATE_KEY"), help="a producer key")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--payload", required=True, help="the task's payload, as JSON")
    parser.add_argument("--wait", type=int, default=0, help="wait this many ms for the result")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    body = {"payload": json.loads(args.payload)}
    headers = {"idempotency-key": str(uuid.uuid4())}  # one key for every try of this submit
    path = f"/v1/queues/{args.queue}/tasks"
    status, task = retrying("submit", lambda: call(base, args.key, "POST", path, body, headers))
    if status not in (200, 201):
        print(f"submit refused: {status} {task.get('detail', task)}", file=sys.stderr)
        sys.exit(2)
    print(task["id"])
    if not args.wait:
        return
    deadline = time.monotonic() + args.wait / 1000
    while task["state"] not in ("completed", "dead", "cancelled") and time.monotonic() < deadline:
        wait_ms = min(60000, max(1, int((deadline - time.monotonic()) * 1000)))
        # A read is always safe to repeat.
        _, task = retrying("wait", lambda: call(
            base, args.key, "GET", f"{path}/{task['id']}?wait_ms={wait_ms}"))
    if task["state"] == "completed":
        print(json.dumps(task.get("result")))
        return
    print(f"task {task['id']} is {task['state']}: {task.get('last_error') or ''}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
