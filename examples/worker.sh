#!/bin/sh
# A taskgate worker in POSIX shell with curl and jq. One task at a time. Copy it and put your
# work in `work`.
#
#   TASKGATE_URL=http://127.0.0.1:8080 sh examples/worker.sh emails [worker-name]
#
# What it does, and why:
# * Leases one task with a 2 s long poll (no busy polling), and a fresh request_id per call so
#   a retried lease returns what the lost reply held instead of taking more.
# * Runs `work` in the background and heartbeats every third of the lease meanwhile; each
#   heartbeat carries the latest progress `work` wrote to "$PROGRESS" (one JSON value), which
#   the task's page and event stream show.
# * Retries safe calls (lease with its request_id, heartbeat, ack and fail with the lease_id) on
#   network errors, 408, 429 and 5xx, with capped backoff.
# * On 409 lease-lost it drops the work: the task belongs to someone else now.
# * SIGINT/SIGTERM: it leases no more, finishes and acks the task it holds, and exits 0.
# * Sends $TASKGATE_KEY as its API key if set; exits 2 at once if the server refuses it.
# * A leased task jq cannot read (jq 1.6 reads JSON nested at most 256 deep) is failed with a
#   clear error instead of waiting for its lease to run out; so is one whose result the server
#   refuses (too large, too deep).
#
# Demo `work`: echoes the payload as the result; a payload with "sleep_ms" sleeps first, in ten
# steps, reporting {"done": n, "of": 10} after each; one with "fail": true fails (taskgate
# retries it).
set -u

BASE=${TASKGATE_URL:-http://127.0.0.1:8080}
QUEUE=${1:?usage: worker.sh QUEUE [WORKER_NAME]}
NAME=${2:-shell-$$}
TMP=$(mktemp -d) || exit 1
PROGRESS=$TMP/progress
STOPPING=0

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# Your work goes here: the payload (JSON) is on stdin; print the result (JSON) on stdout and
# exit 0, or print an error message and exit non-zero to fail the attempt. To report progress,
# write one JSON value (up to 4096 bytes) to "$PROGRESS": the next heartbeat sends it.
work() {
  payload=$(cat)
  ms=$(printf '%s' "$payload" | jq -r 'if type == "object" then .sleep_ms // 0 else 0 end')
  if [ "$ms" -gt 0 ]; then
    step=1
    while [ "$step" -le 10 ]; do
      sleep "$(awk "BEGIN { print $ms / 10000 }")"
      # Written whole, then renamed: the heartbeat never reads half a report.
      printf '{"done":%d,"of":10}' "$step" > "$PROGRESS.new" && mv "$PROGRESS.new" "$PROGRESS"
      step=$((step + 1))
    done
  fi
  if printf '%s' "$payload" | jq -e 'type == "object" and .fail == true' >/dev/null; then
    echo "the payload asked to fail"
    return 1
  fi
  printf '%s' "$payload" | jq -c '{echo: .}'
}

# post PATH BODY: POSTs once; the answer's body goes to $TMP/answer, its status to stdout
# (000 when the network failed).
post() {
  path=$1 body=$2
  if [ -n "${TASKGATE_KEY:-}" ]; then set -- -H "authorization: Bearer $TASKGATE_KEY"; else set --; fi
  echo '{}' > "$TMP/answer"
  curl -s -o "$TMP/answer" -w '%{http_code}' --max-time 35 -X POST "$BASE$path" \
    -H 'content-type: application/json' --data-binary "$body" "$@" 2>/dev/null
}

# retrying WHAT PATH BODY: post until an answer that is not a network error, 408, 429 or 5xx.
# Prints the status. Gives up (status 000) on a lease call once stopping.
retrying() {
  delay=1
  while :; do
    status=$(post "$2" "$3")
    case $status in
      000|408|429|5??) ;;
      *) echo "$status"; return ;;
    esac
    if [ "$1" = lease ] && [ "$STOPPING" = 1 ]; then echo 000; return; fi
    log "$1: $status; retrying in ${delay}s"
    sleep "$delay"
    [ "$delay" -lt 8 ] && delay=$((delay * 2))
  done
}

trap 'STOPPING=1; log "signal: finishing the current task, leasing no more"' INT TERM

# handle LEASE_JSON: works on one leased task, heartbeating meanwhile, then acks or fails it.
handle() {
  id=$(printf '%s' "$1" | jq -r .task.id)
  lease_id=$(printf '%s' "$1" | jq -r .lease_id)
  path="/v1/queues/$QUEUE/tasks/$id"
  every_ms=$(printf '%s' "$1" | jq -r '.expires_in_ms / 3 | floor')
  rm -f "$TMP/status" "$PROGRESS"
  sent=""
  payload=$(printf '%s' "$1" | jq -c .task.payload)
  (printf '%s' "$payload" | work > "$TMP/result" 2> "$TMP/errors"; echo $? > "$TMP/status") &
  lost=0 waited=0
  # Poll for the end of the work in small steps; heartbeat each time a third of the lease passed.
  while [ ! -s "$TMP/status" ]; do
    sleep 0.1
    waited=$((waited + 100))
    [ "$waited" -lt "$every_ms" ] || [ "$lost" = 1 ] || {
      waited=0
      report=$(cat "$PROGRESS" 2>/dev/null || true)
      if [ -n "$report" ] && [ "$report" != "$sent" ]; then
        beat=$(jq -nc --arg lease "$lease_id" --argjson progress "$report" \
          '{lease_id: $lease, progress: $progress}' 2>/dev/null) ||
          beat="{\"lease_id\":\"$lease_id\"}" # not JSON: not sent
      else
        beat="{\"lease_id\":\"$lease_id\"}"
      fi
      status=$(retrying "heartbeat $id" "$path/heartbeat" "$beat")
      if [ "$status" = 409 ]; then
        log "task $id: lease lost while working on it"
        lost=1
      elif [ "$status" = 200 ]; then
        sent=$report
        every_ms=$(jq -r '.expires_in_ms / 3 | floor' "$TMP/answer")
      elif [ "$status" = 413 ]; then
        log "task $id: progress refused: $(jq -r '.detail // empty' "$TMP/answer")"
        sent=$report
      fi
    }
  done
  wait
  outcome=$(cat "$TMP/status")
  if [ "$lost" = 1 ]; then
    log "task $id: lease lost; its work is not recorded"
    return
  fi
  if [ "$outcome" = 0 ] && body=$(jq -ce --arg lease "$lease_id" '{lease_id: $lease, result: .}' "$TMP/result" 2>/dev/null); then
    verb=ack
  else
    verb=fail
    [ "$outcome" = 0 ] && echo "work printed no JSON result" >> "$TMP/errors"
    body=$(cat "$TMP/result" "$TMP/errors" | jq -Rsc --arg lease "$lease_id" '{lease_id: $lease, error: (. | rtrimstr("\n"))}')
  fi
  status=$(retrying "$verb $id" "$path/$verb" "$body")
  if [ "$verb" = ack ] && { [ "$status" = 413 ] || [ "$status" = 422 ]; }; then
    # The server refused the result (too large, nested too deep): fail the attempt, saying why.
    error="taskgate refused the result: $(jq -r '.detail // empty' "$TMP/answer" 2>/dev/null)"
    log "task $id: $error"
    verb=fail
    body=$(jq -nc --arg lease "$lease_id" --arg error "$error" '{lease_id: $lease, error: $error}')
    status=$(retrying "$verb $id" "$path/$verb" "$body")
  fi
  case $status in
    200) if [ "$verb" = ack ]; then log "task $id: completed"
         else log "task $id: failed, now $(jq -r .state "$TMP/answer" 2>/dev/null)"; fi ;;
    409) log "task $id: lease lost; its work is not recorded" ;;
    *) log "task $id: $verb answered $status $(cat "$TMP/answer")" ;;
  esac
}

# fail_unreadable WHY: fails the task of the lease answer in $TMP/answer, which jq cannot read
# whole, with a clear error. Its ids are read with jq's streaming parser, which has no depth
# limit and stops once it has them.
fail_unreadable() {
  ids=$(jq -rn --stream '
    first(inputs | select(length == 2 and .[0] == ["leases", 0, "lease_id"]) | .[1]),
    first(inputs | select(length == 2 and .[0] == ["leases", 0, "task", "id"]) | .[1])' \
    "$TMP/answer" 2>/dev/null)
  lease_id=$(printf '%s\n' "$ids" | sed -n 1p)
  id=$(printf '%s\n' "$ids" | sed -n 2p)
  if [ -z "$lease_id" ] || [ -z "$id" ]; then
    log "a lease could not be read, nor its ids: $1"
    return
  fi
  error="this worker cannot read the task: $1"
  log "task $id: $error"
  body=$(jq -nc --arg lease "$lease_id" --arg error "$error" '{lease_id: $lease, error: $error}')
  status=$(retrying "fail $id" "/v1/queues/$QUEUE/tasks/$id/fail" "$body")
  [ "$status" = 200 ] || log "task $id: fail answered $status"
}

while [ "$STOPPING" = 0 ]; do
  request=$(jq -nc --arg worker "$NAME" --arg id "$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo "$$-$(date +%s%N)")" \
    '{worker: $worker, max_tasks: 1, wait_ms: 2000, request_id: $id}')
  status=$(retrying lease "/v1/queues/$QUEUE/leases" "$request")
  case $status in
    200) ;;
    000) break ;;
    401|403) log "taskgate refused this worker: $status $(jq -r .detail "$TMP/answer")"; rm -rf "$TMP"; exit 2 ;;
    *) log "lease answered $status $(cat "$TMP/answer")"; sleep 1; continue ;;
  esac
  if ! lease=$(jq -c '.leases[0] // empty' "$TMP/answer" 2>"$TMP/jq-error"); then
    fail_unreadable "$(tr -d '\n' < "$TMP/jq-error")"
    continue
  fi
  [ -n "$lease" ] && handle "$lease"
done
rm -rf "$TMP"
log "worker stopped"
