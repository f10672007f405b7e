#!/bin/sh
# Submit one task to taskgate with curl, and wait for its result:
#
#   TASKGATE_URL=http://127.0.0.1:8080 sh examples/producer.sh emails '{"to": "ada@example.com"}' 30000
#
# The Idempotency-Key is made once, so retries (network errors, 408, 429, 5xx) can never
# create a second task. Prints the task id, then the result once completed (with a wait in ms
# as the third argument). Exit status: 0 completed (or submitted), 1 not completed, 2 refused.
set -eu
BASE=${TASKGATE_URL:-http://127.0.0.1:8080}
QUEUE=${1:?usage: producer.sh QUEUE PAYLOAD_JSON [WAIT_MS]}
PAYLOAD=${2:?usage: producer.sh QUEUE PAYLOAD_JSON [WAIT_MS]}
WAIT_MS=${3:-0}
KEY=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo "$$-$(date +%s)-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')")
if [ -n "${TASKGATE_KEY:-}" ]; then set -- -H "authorization: Bearer $TASKGATE_KEY"; else set --; fi

# Repeated on network errors, 408, 429 and 5xx with backoff; safe, as every try has one key.
body=$(printf '%s' "$PAYLOAD" | jq -c '{payload: .}' 2>/dev/null) || { echo "the payload is not JSON" >&2; exit 2; }
delay=1
for try in 1 2 3 4 5 6 7; do
  if answer=$(curl -s -w '\n%{http_code}' --max-time 35 -H 'content-type: application/json' \
    -H "idempotency-key: $KEY" "$@" --data-binary "$body" "$BASE/v1/queues/$QUEUE/tasks"); then
    status=$(printf '%s' "$answer" | tail -n 1)
    task=$(printf '%s' "$answer" | sed '$d')
  else
    rc=$?  # no answer: retry what the network caused (no host, refused, timeout, cut off)
    case $rc in
      6|7|28|52|55|56) status=000 ;;
      *) echo "submit: curl failed with exit code $rc" >&2; exit 2 ;;
    esac
  fi
  case $status in
    200|201) break ;;
    000|408|429|5??) echo "submit: $status; retrying in ${delay}s" >&2; sleep "$delay"; [ "$delay" -ge 8 ] || delay=$((delay * 2)) ;;
    *) echo "submit refused: $status $task" >&2; exit 2 ;;
  esac
done
case $status in 200|201) ;; *) echo "submit: giving up after $try tries" >&2; exit 1 ;; esac
id=$(printf '%s' "$task" | jq -r .id)
echo "$id"
[ "$WAIT_MS" -gt 0 ] || exit 0

deadline=$(( $(date +%s) + (WAIT_MS + 999) / 1000 ))
state=$(printf '%s' "$task" | jq -r .state)
while :; do
  case $state in completed|dead|cancelled) break ;; esac
  left=$(( (deadline - $(date +%s)) * 1000 ))
  [ "$left" -gt 0 ] || break
  [ "$left" -le 60000 ] || left=60000
  # A read is always safe to repeat; curl retries it past network errors and 5xx.
  task=$(curl -sf --retry 6 --retry-all-errors "$@" "$BASE/v1/queues/$QUEUE/tasks/$id?wait_ms=$left") || { sleep 1; continue; }
  state=$(printf '%s' "$task" | jq -r .state)
done
if [ "$state" = completed ]; then
  printf '%s' "$task" | jq -c .result
else
  echo "task $id is $state: $(printf '%s' "$task" | jq -r '.last_error // ""')" >&2
  exit 1
fi
