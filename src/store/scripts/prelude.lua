-- prelude.lua: the definitions every taskgate script shares. scripts.rs prepends this file to
-- each script at compile time, so every operation is still one self-contained EVALSHA.
--
-- KEYS (every script; order fixed by store/keys.rs):
--   1 meta, 2 payload, 3 result, 4 errors  (hashes keyed by task id)
--   5 ready, 6 scheduled, 7 leased, 8 completed, 9 dead, 10 cancelled  (sorted sets of task ids)
--   11 stats  (hash of running totals and the arrival sequence)
-- ARGV 1..11 (every script): the queue's effective policy, then two run-time values:
--   1 lease_ms, 2 max_attempts, 3 backoff_initial_ms, 4 backoff_multiplier, 5 backoff_max_ms,
--   6 backoff_jitter, 7 completed_ttl_ms, 8 dead_ttl_ms, 9 error history length,
--   10 random seed for jitter, 11 reserved (empty)
-- A script's own arguments follow; arg(1) is ARGV[12].
--
-- Only keys passed in KEYS are touched, and every one carries the queue's hash tag, so each
-- script runs in one slot on Redis Cluster. The only clock is Redis TIME.

local K_META, K_PAYLOAD, K_RESULT, K_ERRORS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_READY, K_SCHEDULED, K_LEASED = KEYS[5], KEYS[6], KEYS[7]
local K_STATS = KEYS[11]
local TERMINAL_KEY = { completed = KEYS[8], dead = KEYS[9], cancelled = KEYS[10] }

local POLICY = {
  lease_ms = tonumber(ARGV[1]),
  max_attempts = tonumber(ARGV[2]),
  backoff_initial_ms = tonumber(ARGV[3]),
  backoff_multiplier = tonumber(ARGV[4]),
  backoff_max_ms = tonumber(ARGV[5]),
  backoff_jitter = tonumber(ARGV[6]),
  completed_ttl_ms = tonumber(ARGV[7]),
  dead_ttl_ms = tonumber(ARGV[8]),
}
local ERROR_HISTORY_MAX = tonumber(ARGV[9])
math.randomseed(tonumber(ARGV[10]))

local function arg(i)
  return ARGV[11 + i]
end

-- Milliseconds since the epoch by the Redis clock, the one clock all instances share.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A task's metadata as a table, plus its stored JSON text; nil when the task does not exist.
local function load_meta(id)
  local raw = redis.call('HGET', K_META, id)
  if not raw then
    return nil, nil
  end
  return cjson.decode(raw), raw
end

-- Stores a task's metadata and returns the JSON text stored.
local function save_meta(id, meta)
  local raw = cjson.encode(meta)
  redis.call('HSET', K_META, id, raw)
  return raw
end

-- One task as a reply: { id, meta JSON, payload, result or nil, errors JSON or nil }.
local function task_reply(id, meta_json)
  return {
    id,
    meta_json,
    redis.call('HGET', K_PAYLOAD, id),
    redis.call('HGET', K_RESULT, id),
    redis.call('HGET', K_ERRORS, id),
  }
end

-- Ready tasks are ordered by priority (higher first), then by arrival (FIFO). Both fit one
-- exact double: 2001 priorities x 2^41 arrivals < 2^53.
local ARRIVALS_PER_PRIORITY = 2 ^ 41

local function make_ready(id, meta)
  meta.state = 'ready'
  local arrival = redis.call('HINCRBY', K_STATS, 'seq', 1) % ARRIVALS_PER_PRIORITY
  redis.call('ZADD', K_READY, (1000 - meta.priority) * ARRIVALS_PER_PRIORITY + arrival, id)
end

-- Puts a task that nobody holds where it waits for run_at: ready at once if due, else scheduled.
local function place(id, meta, run_at, now)
  meta.run_at = run_at
  if run_at <= now then
    make_ready(id, meta)
  else
    meta.state = 'scheduled'
    redis.call('ZADD', K_SCHEDULED, run_at, id)
  end
end

-- Retry delay after `attempt`: initial x multiplier^(attempt-1), capped, spread by +-jitter.
local function backoff_ms(attempt)
  local delay = POLICY.backoff_initial_ms * POLICY.backoff_multiplier ^ (attempt - 1)
  delay = math.min(delay, POLICY.backoff_max_ms)
  delay = delay + delay * POLICY.backoff_jitter * (2 * math.random() - 1)
  return math.floor(math.max(0, math.min(delay, POLICY.backoff_max_ms)))
end

-- Appends one failed attempt to the task's capped error history and counts it.
local function record_failure(id, meta, kind, message, now)
  local raw = redis.call('HGET', K_ERRORS, id)
  local history = raw and cjson.decode(raw) or {}
  table.insert(history, { attempt = meta.attempts, at = now, kind = kind, message = message })
  while #history > ERROR_HISTORY_MAX do
    table.remove(history, 1)
  end
  redis.call('HSET', K_ERRORS, id, cjson.encode(history))
  if kind == 'expired' then
    meta.attempts_expired = meta.attempts_expired + 1
  else
    meta.attempts_failed = meta.attempts_failed + 1
  end
  redis.call('HINCRBY', K_STATS, 'failed', 1)
end

-- Ends the current lease. `ended_by` ('ack' or 'fail') remembers which lease finished the
-- task how, so the same worker can repeat its call safely; an expiry remembers nothing.
local function release_lease(id, meta, ended_by)
  redis.call('ZREM', K_LEASED, id)
  if ended_by then
    meta.ended_lease = meta.lease_id
    meta.ended_by = ended_by
  end
  meta.lease_id = nil
  meta.leased_until = nil
end

-- Moves a task to a terminal state, to be purged after the state's retention time.
local function finish(id, meta, state, now)
  local ttl = state == 'dead' and POLICY.dead_ttl_ms or POLICY.completed_ttl_ms
  meta.state = state
  meta.finished_at = now
  redis.call('ZADD', TERMINAL_KEY[state], now + ttl, id)
  redis.call('HINCRBY', K_STATS, state, 1)
end

-- After a failed attempt: back to waiting after a delay while attempts remain and retry is
-- allowed, otherwise dead.
local function retry_or_bury(id, meta, now, retry, delay_ms, ended_by)
  release_lease(id, meta, ended_by)
  if retry and meta.attempts < meta.max_attempts then
    place(id, meta, now + (delay_ms or backoff_ms(meta.attempts)), now)
  else
    finish(id, meta, 'dead', now)
  end
end

-- An expired lease is a failed attempt and follows the same backoff as an explicit fail, so a
-- task that crashes its workers cannot spin.
local function expire_lease(id, meta, now)
  record_failure(id, meta, 'expired', 'lease expired', now)
  retry_or_bury(id, meta, now, true, nil, nil)
  save_meta(id, meta)
end

-- Reclaims up to `limit` leases whose deadline has passed. Returns how many.
local function reclaim_expired(now, limit)
  local ids = redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local meta = load_meta(id)
    if meta then
      expire_lease(id, meta, now)
    else
      redis.call('ZREM', K_LEASED, id)
    end
  end
  return #ids
end

-- Moves up to `limit` scheduled tasks whose run_at has come to ready. Returns how many.
local function promote_due(now, limit)
  local ids = redis.call('ZRANGEBYSCORE', K_SCHEDULED, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K_SCHEDULED, id)
    local meta = load_meta(id)
    if meta then
      make_ready(id, meta)
      save_meta(id, meta)
    end
  end
  return #ids
end

-- The fencing check: true only when `lease_id` is the task's live lease. A lease whose deadline
-- has passed is lost even when no reaper has reclaimed it yet; it is reclaimed here, so the
-- answer never depends on reaper timing.
local function holds_lease(id, meta, lease_id, now)
  if meta.state ~= 'leased' or meta.lease_id ~= lease_id then
    return false
  end
  if meta.leased_until <= now then
    expire_lease(id, meta, now)
    return false
  end
  return true
end

-- Shared opening of ack and fail: loads the task and settles not-found, replay and fencing.
-- Returns nil plus the reply to send, or the task's metadata when the caller holds the lease.
local function claim_for_finish(id, lease_id, ended_by, now)
  local meta, raw = load_meta(id)
  if not meta then
    return nil, { 'not_found', now }
  end
  if meta.ended_lease == lease_id and meta.ended_by == ended_by then
    return nil, { 'replayed', now, task_reply(id, raw) }
  end
  if not holds_lease(id, meta, lease_id, now) then
    return nil, { 'lease_lost', now }
  end
  return meta, nil
end
