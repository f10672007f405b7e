#!/usr/bin/env python3
"""A complete taskgate worker in plain Python (standard library only).

It leases tasks, heartbeats while it works, and acks or fails each one with its lease id.
Usage: worker.py [--base URL] [--queue NAME] [--drain]
  --drain  exit once the queue is empty (otherwise poll forever).
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.request


def call(base, path, body):
    """POSTs JSON; returns (status, decoded body)."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def heartbeat_until(stop, base, task_path, lease):
    """Extends the lease at half its remaining time until `stop` is set or the lease is lost."""
    wait_s = lease["expires_in_ms"] / 2000
    while not stop.wait(wait_s):
        status, answer = call(base, task_path + "/heartbeat", {"lease_id": lease["lease_id"]})
        if status == 409:  # lease-lost: someone else may be running this task now
            return
        wait_s = answer.get("expires_in_ms", 2000) / 2000


def process(payload):
    """Your work goes here. Raise to fail the attempt."""
    return {"echo": payload}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--drain", action="store_true")
    args = parser.parse_args()
    queue_path = f"/v1/queues/{args.queue}"

    while True:
        status, answer = call(args.base, queue_path + "/leases", {"worker": "python-example", "max_tasks": 10})
        if status != 200:
            time.sleep(1)  # 503 and friends: back off and retry
            continue
        if not answer["leases"]:
            if args.drain:
                return
            time.sleep(0.5)
            continue
        for lease in answer["leases"]:
            task_path = f"{queue_path}/tasks/{lease['task']['id']}"
            stop = threading.Event()
            beater = threading.Thread(target=heartbeat_until, args=(stop, args.base, task_path, lease))
            beater.start()
            try:
                result = process(lease["task"]["payload"])
                status, _ = call(args.base, task_path + "/ack", {"lease_id": lease["lease_id"], "result": result})
            except Exception as error:  # the attempt failed: report it, taskgate retries with backoff
                status, _ = call(args.base, task_path + "/fail", {"lease_id": lease["lease_id"], "error": repr(error)})
            finally:
                stop.set()
                beater.join()
            if status == 409:
                print(f"lease lost for {lease['task']['id']}: result not recorded")


if __name__ == "__main__":
    main()
