-- reap.lua: one bounded sweep of a queue. It reclaims expired leases, promotes due scheduled
-- tasks, ends ready tasks past their start deadline, purges terminal tasks past their retention (and quarantined records past the dead-task
-- retention) and forgets expired lease request ids, each bounded by count and bytes. Every
-- instance runs it; it is atomic, so concurrent sweeps never double-handle a task.
-- A queue left with nothing at all (no tasks in any state, nothing quarantined, no remembered
-- requests or idempotency keys, no policy ever set, no schedule, no flow record) has its last key, `stats`, deleted, and
-- the sweep answers gone = 1 so the caller drops the queue from the registry. A queue whose
-- policy was ever set keeps it (and its version, which ETags rely on) until it is deleted.
-- arg: none
-- Returns reply('ok', reclaimed, promoted, purged, more, gone, counts, group tally, schedules due,
-- schedules, outbox entries due, waiting tasks due for their links, flows due for a check);
-- more = 1 when some step
-- hit its bound, so more work is already waiting; counts are the queue's tasks per state after
-- the sweep (see `state_counts`), sampled here so that metrics cost no extra round trip.

-- One budget of items for the whole sweep, spent in order of urgency.
local budget = SWEEP_ITEMS_MAX
local reclaimed, more = reclaim_expired(budget)
budget = budget - reclaimed
local promoted = 0
if budget > 0 then
  local more_promote
  promoted, more_promote = promote_due(budget)
  budget, more = budget - promoted, more or more_promote
end
-- Ready tasks past their start deadline go to dead (counted in the reply frame's `unstarted`).
if budget > 0 then
  local ended, more_ended = expire_unstarted_due(budget)
  budget, more = budget - ended, more or more_ended
end

local purged, freed = 0, 0
local function purge(role, before)
  if budget <= 0 or more then
    return
  end
  local ids = redis.call('ZRANGEBYSCORE', K[role], '-inf', before, 'LIMIT', 0, budget)
  for _, id in ipairs(ids) do
    if redis.call('ZSCORE', K.outbox, id) then
      -- Its outcome has yet to reach the tasks that wait for it: kept a little longer.
      redis.call('ZADD', K[role], now + DEPENDENCY_LINK_GRACE_MS, id)
    else
      freed = freed + erase(id)
      erase_links(id)
      redis.call('ZREM', K[role], id)
      purged = purged + 1
    end
    budget = budget - 1
    if budget <= 0 or freed >= PURGE_BYTES_MAX then
      more = true
      return
    end
  end
end
for _, role in ipairs({ 'completed', 'dead', 'cancelled' }) do
  purge(role, now)
end
purge('quarantine', now - POLICY.dead_ttl_ms)

-- Forgets lease request ids and idempotency keys whose time is over.
local function forget(hash, expiry)
  if budget <= 0 then
    return
  end
  local expired = redis.call('ZRANGEBYSCORE', K[expiry], '-inf', now, 'LIMIT', 0, budget)
  if #expired > 0 then
    redis.call('HDEL', K[hash], unpack(expired))
    redis.call('ZREM', K[expiry], unpack(expired))
    budget = budget - #expired
    more = more or budget <= 0
  end
end
forget('requests', 'request_expiry')
forget('idempotency', 'idempotency_expiry')
-- A group rate clock in the past is a full bucket (prelude/groups.lua): nothing to remember.
if budget > 0 then
  local full = redis.call('ZRANGEBYSCORE', K.grate, '-inf', now, 'LIMIT', 0, budget)
  if #full > 0 then
    redis.call('ZREM', K.grate, unpack(full))
    budget = budget - #full
  end
end

-- A few groups' bookkeeping re-placed per sweep, and a few of their lease entries checked,
-- walking them all in turn.
local function walk(key, field, step)
  if redis.call('EXISTS', key) == 1 then
    local cursor = redis.call('HGET', K.stats, field) or ''
    local next_cursor = step(GROUPS_MENDED_MAX, cursor)
    if next_cursor ~= cursor then
      redis.call('HSET', K.stats, field, next_cursor)
    end
  end
end
walk(K.gready, 'group_mend', groups_mended)
walk(K.gleased, 'group_lease_mend', group_leases_mended)
walk(K.rready, 'requires_mend', function(limit, cursor)
  return requires_mended(K.rready, limit, cursor)
end)
walk(K.rheads, 'requires_heads_mend', function(limit, cursor)
  return requires_mended(K.rheads, limit, cursor)
end)
walk(K.rturn, 'turns_mend', turns_mended)
walk(K.rheads, 'heads_mend', heads_mended)

-- Workers silent past the window are forgotten (a few per sweep).
local silent = redis.call('ZRANGEBYSCORE', K.workers, '-inf', now - POLICY.workers_window_ms,
  'LIMIT', 0, WORKERS_PRUNED_MAX)
if #silent > 0 then
  redis.call('ZREM', K.workers, unpack(silent))
  -- pcall: a rows key of the wrong type (a hand edit) must not fail the sweep.
  redis.pcall('HDEL', K.wstats, unpack(silent))
  redis.pcall('HDEL', K.wlabels, unpack(silent))
end

-- This minute's snapshot for the queue's history (every sweep of the minute writes it; the
-- last one stands).
note_snapshot(math.floor(now / 60000))

local gone = 0
local counts = state_counts()
local idle = not more and redis.call('EXISTS', K.policy, K.gconf, K.schedules, K.flows) == 0
if idle and redis.call('HLEN', K.meta) == 0 and redis.call('HLEN', K.requests) == 0
    and redis.call('HLEN', K.idempotency) == 0 then
  local empty = true
  for _, n in ipairs(counts) do
    empty = empty and n == 0
  end
  if empty then
    -- With no task left, what groups kept is stale (a rate clock still running, a count or
    -- hold a quarantined record left behind).
    redis.call('DEL', K.stats, K.grate, K.gleased, K.ghold, K.glive, K.gnames, K.history,
      K.workers, K.wstats, K.wlabels, K.rsets, K.debounce, K.snames, K.sdue, K.sruns, K.kids,
      K.outbox, K.parents, K.depres, K.dlink, K.fcheck)
    gone = 1
  end
end
-- Schedules whose tick has come: the server decides and fires them (schedules/fire.lua); and
-- how many the queue has (the server mends their due entries now and then).
local due = redis.call('ZCOUNT', K.sdue, '-inf', now)
-- Finished tasks whose outcome the instance that finished them has not delivered in time, and
-- waiting tasks due for their parents to be (re)checked: the server delivers (store/deps).
return reply('ok', reclaimed, promoted, purged, more and 1 or 0, gone, counts, group_tally(), due,
  redis.call('HLEN', K.schedules), redis.call('ZCOUNT', K.outbox, '-inf', now - OUTBOX_GRACE_MS),
  redis.call('ZCOUNT', K.dlink, '-inf', now), redis.call('ZCOUNT', K.fcheck, '-inf', now))
