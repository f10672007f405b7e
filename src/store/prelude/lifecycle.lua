-- lifecycle.lua: the state transitions the scripts share: the ready order, scheduling, backoff,
-- leases and their fencing, failures, terminal states, and the bounded reclaim and promotion
-- steps that both the reaper and lease calls run.

-- A debounced task lets go of its key once it is ready or finished (prelude/submit_one.lua):
-- the next submit with the key starts a new task.
local function debounce_released(id, meta)
  if meta.dkey then
    local entry = redis.call('HGET', K.debounce, meta.dkey)
    if entry and string.match(entry, '^(%S+)') == id then
      redis.call('HDEL', K.debounce, meta.dkey)
    end
    meta.dkey = nil
  end
end

-- A task with a group is ready in its group's order (prelude/groups.lua), one without a group
-- that has requirements in its requirement set's (prelude/requires.lua), any other in `ready`;
-- all are in `ready_time`. Each time a task becomes ready its start deadline, if it
-- has one (its own `start_within_ms`, else the policy's `start_ttl_ms` now), starts anew and
-- is indexed in `deadlines`: a task without one costs nothing here.
local function make_ready(id, meta)
  debounce_released(id, meta)
  meta.state = 'ready'
  meta.seq = string.format('%016x', redis.call('HINCRBY', K.stats, 'seq', 1))
  local start_ms = meta.start_ms or POLICY.start_ttl_ms
  if start_ms then
    meta.start_by = now + start_ms
    redis.call('ZADD', K.deadlines, meta.start_by, id)
  else
    meta.start_by = nil
  end
  redis.call('ZADD', K.ready_time, now, id)
  table.insert(EVENTS.tasks, id)
  if meta.group then
    group_add(id, meta)
  elseif meta.rset then
    redis.call('ZADD', K.rready, 0, req_member(id, meta))
  else
    redis.call('ZADD', K.ready, -meta.priority, ready_member(id, meta))
  end
  if meta.rset then
    requires_ready(meta.rset)
  else
    EVENTS.ready = EVENTS.ready + 1
  end
end

-- Takes a ready task out of the ready order (to lease or cancel it).
local function unready(id, meta)
  if meta.group then
    group_remove(id, meta, true)
  elseif meta.rset then
    redis.call('ZREM', K.rready, req_member(id, meta))
  else
    redis.call('ZREM', K.ready, ready_member(id, meta))
  end
  redis.call('ZREM', K.ready_time, id)
  meta.seq = nil
  if meta.start_by then
    redis.call('ZREM', K.deadlines, id)
    meta.start_by = nil
  end
end

-- Attempts a task may have: its own, set at submit, else the queue's current policy.
local function max_attempts(meta)
  return meta.max_attempts or POLICY.max_attempts
end

-- Puts a task that nobody holds where it waits for run_at: ready at once if due, else scheduled.
local function place(id, meta, run_at)
  meta.run_at = run_at
  if run_at <= now then
    make_ready(id, meta)
  else
    meta.state = 'scheduled'
    meta.seq = nil
    redis.call('ZADD', K.scheduled, run_at, id)
    table.insert(EVENTS.tasks, id)
  end
end

-- Retry delay after `attempt`: initial x multiplier^(attempt-1), capped, spread by +-jitter.
local function backoff_ms(attempt)
  local max_ms = POLICY['backoff.max_ms']
  local delay = POLICY['backoff.initial_ms'] * POLICY['backoff.multiplier'] ^ (attempt - 1)
  delay = math.min(delay, max_ms)
  delay = delay + delay * POLICY['backoff.jitter'] * (2 * random() - 1)
  return math.floor(math.max(0, math.min(delay, max_ms)))
end

-- Counts one failed attempt and records it in the task's history; `lease_id` is kept for an
-- explicit fail so that lease can repeat its call safely.
local function record_failure(id, meta, kind, message, lease_id)
  if kind == 'expired' then
    meta.attempts_expired = meta.attempts_expired + 1
  else
    meta.attempts_failed = meta.attempts_failed + 1
  end
  redis.call('HINCRBY', K.stats, 'failed', 1)
  append_history(id, meta, kind, message, lease_id)
end

-- A lease ended: `outcome` is the worker's count it adds to (2 completed, 3 failed; nil for a
-- cancel), and the worker holds one lease less (prelude/workers.lua).
local function release_lease(id, meta, outcome)
  worker_count(meta.worker or '', outcome or 1, outcome and 1 or 0, -1)
  redis.call('ZREM', K.leased, id)
  meta.lease_id = nil
  meta.leased_until = nil
  EVENTS.slots = EVENTS.slots + 1
  if meta.group then
    group_released(id, meta)
  end
end

-- Moves a task to a terminal state, to be purged after the state's retention time (dead tasks
-- have their own; completed and cancelled ones share one).
local function finish(id, meta, state)
  debounce_released(id, meta)
  meta.state = state
  meta.seq = nil
  meta.finished_at = now
  local ttl = state == 'dead' and POLICY.dead_ttl_ms or POLICY.completed_ttl_ms
  redis.call('ZADD', K[state], now + ttl, id)
  redis.call('HINCRBY', K.stats, state, 1)
  table.insert(EVENTS.tasks, id)
  if meta.group then
    group_finished(id, meta)
  end
  if meta.rset then
    requires_left(meta.rset)
  end
  if meta.kids then
    -- Tasks wait for this one: its outcome goes out to them from this outbox (store/deps), at
    -- once from the instance that finished it, else from the sweep. A later finish (after a
    -- redrive) enters it again.
    redis.call('ZADD', K.outbox, now, id)
  end
end

-- A ready task, already out of the ready order, that was not leased by its start deadline:
-- it is not run. It goes to `dead` (redrivable) with an `expired` entry in its history, and is
-- counted in the queue's `expired` total; its attempts are not touched (none was made).
local function expire_unstarted(id, meta)
  meta.start_by = nil
  redis.call('ZREM', K.deadlines, id)
  redis.call('HINCRBY', K.stats, 'expired', 1)
  UNSTARTED = UNSTARTED + 1
  append_history(id, meta, 'expired', 'not started: no worker leased it by its start deadline')
  finish(id, meta, 'dead')
  save_meta(id, meta)
end

-- After a failed attempt: waits and becomes ready again while attempts remain and retry is
-- allowed, otherwise dead.
local function retry_or_bury(id, meta, retry, delay_ms)
  release_lease(id, meta, 3)
  if retry and meta.attempts < max_attempts(meta) then
    place(id, meta, now + (delay_ms or backoff_ms(meta.attempts)))
  else
    finish(id, meta, 'dead')
  end
end

-- An expired lease is a failed attempt and follows the same backoff as an explicit fail, so a
-- task that crashes its workers cannot spin.
local function expire_lease(id, meta)
  record_failure(id, meta, 'expired', 'lease expired')
  retry_or_bury(id, meta, true, nil)
  save_meta(id, meta)
end

-- The fencing check: true only when `lease_id` is the task's live lease. A lease whose deadline
-- has passed is lost even when no reaper has reclaimed it yet; it is reclaimed here, so the
-- answer never depends on reaper timing.
local function holds_lease(id, meta, lease_id)
  if meta.state ~= 'leased' or meta.lease_id ~= lease_id then
    return false
  end
  if meta.leased_until <= now then
    expire_lease(id, meta)
    return false
  end
  return true
end

-- Reclaims expired leases, at most `limit` of them (each costs the same small work, whatever
-- the task's size). Returns how many, and whether more may be waiting.
local function reclaim_expired(limit)
  local ids = redis.call('ZRANGEBYSCORE', K.leased, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local meta = load_task(id)
    if meta and meta.state == 'leased' and meta.leased_until <= now then
      expire_lease(id, meta)
    elseif meta and meta.state == 'leased' then
      redis.call('ZADD', K.leased, meta.leased_until, id) -- index behind the record: mend it
    elseif meta then
      redis.call('ZREM', K.leased, id) -- a stale index entry
    end
  end
  return #ids, #ids == limit
end

-- Makes due scheduled tasks ready, at most `limit`. Returns how many, and whether more may wait.
local function promote_due(limit)
  local ids = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K.scheduled, id)
    local meta = load_task(id)
    if meta and meta.state == 'scheduled' then
      make_ready(id, meta)
      save_meta(id, meta)
    end
  end
  return #ids, #ids == limit
end

-- Ends the ready tasks whose start deadline has passed, at most `limit`. Returns how many, and
-- whether more may wait.
local function expire_unstarted_due(limit)
  local ids = redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', K.deadlines, id)
    local meta = load_task(id)
    if meta and meta.state == 'ready' and meta.start_by and meta.start_by <= now then
      unready(id, meta)
      expire_unstarted(id, meta)
    end
  end
  return #ids, #ids == limit
end

-- Settles what the Redis clock says has already happened to one task: an expired lease is
-- reclaimed, a due scheduled task becomes ready, a ready task past its start deadline is
-- ended. Reads then never contradict the next call.
local function settle(id, meta)
  if meta.state == 'ready' and meta.start_by and meta.start_by <= now then
    unready(id, meta)
    expire_unstarted(id, meta)
    return true
  end
  if meta.state == 'leased' and meta.leased_until <= now then
    expire_lease(id, meta)
    return true
  end
  if meta.state == 'scheduled' and meta.run_at <= now then
    redis.call('ZREM', K.scheduled, id)
    make_ready(id, meta)
    save_meta(id, meta)
    return true
  end
  return false
end

-- Shared opening of ack and fail: loads the task and settles not-found, fencing and replay.
-- Returns the metadata when the caller holds the live lease; otherwise nil and a status:
-- 'not_found', 'lease_lost', or 'replayed' (this lease already did exactly this) plus the meta.
-- A lease that finished an attempt can repeat the same call (ack or fail) for as long as the
-- task remembers it: an ack for good, a fail within the last ERROR_HISTORY_MAX attempts.
local function claim_for_finish(id, lease_id, verb)
  local meta, why = load_task(id)
  if not meta then
    return nil, why == 'not_found' and 'not_found' or 'lease_lost'
  end
  if holds_lease(id, meta, lease_id) then
    return meta
  end
  local replay
  if verb == 'ack' then
    replay = meta.acked_by == lease_id
  else
    replay = history_has_failed_lease(id, meta, lease_id)
  end
  if replay then
    return nil, 'replayed', meta
  end
  return nil, 'lease_lost'
end
