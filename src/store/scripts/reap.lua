-- reap.lua: one bounded sweep of a queue. It reclaims expired leases, promotes due scheduled
-- tasks, purges terminal tasks past their retention (and quarantined records past the dead-task
-- retention) and forgets expired lease request ids, each bounded by count and bytes. Every
-- instance runs it; it is atomic, so concurrent sweeps never double-handle a task.
-- A queue left with nothing at all (no tasks in any state, nothing quarantined, no remembered
-- requests) has its last key, `stats`, deleted, and the sweep answers gone = 1 so the caller
-- drops the queue from the registry.
-- arg: none
-- Returns reply('ok', reclaimed, promoted, purged, more, gone); more = 1 when some step hit its
-- bound, so more work is already waiting.

local reclaimed, more_reclaim = reclaim_expired(RECLAIM_MAX, RECLAIM_BYTES_MAX)
local promoted, more_promote = promote_due(PROMOTE_MAX)
local more = more_reclaim or more_promote

-- Removes a task's data from every hash; returns the bytes freed.
local function erase(id)
  local bytes = 0
  for _, role in ipairs({ 'payload', 'result', 'errors', 'meta' }) do
    bytes = bytes + redis.call('HSTRLEN', K[role], id)
    redis.call('HDEL', K[role], id)
  end
  return bytes
end

local purged, freed = 0, 0
local function purge(role, before)
  local ids = redis.call('ZRANGEBYSCORE', K[role], '-inf', before, 'LIMIT', 0, PURGE_MAX - purged)
  for _, id in ipairs(ids) do
    freed = freed + erase(id)
    redis.call('ZREM', K[role], id)
    purged = purged + 1
    if purged >= PURGE_MAX or freed >= PURGE_BYTES_MAX then
      more = true
      return
    end
  end
end
for _, role in ipairs({ 'completed', 'dead', 'cancelled' }) do
  if not more then
    purge(role, now)
  end
end
if not more then
  purge('quarantine', now - POLICY.dead_ttl_ms)
end

local expired = redis.call('ZRANGEBYSCORE', K.request_expiry, '-inf', now, 'LIMIT', 0, PURGE_MAX)
if #expired > 0 then
  redis.call('HDEL', K.requests, unpack(expired))
  redis.call('ZREM', K.request_expiry, unpack(expired))
  more = more or #expired == PURGE_MAX
end

local gone = 0
if not more and redis.call('HLEN', K.meta) == 0 and redis.call('HLEN', K.requests) == 0 then
  local empty = true
  for _, role in ipairs({ 'ready', 'scheduled', 'leased', 'completed', 'dead', 'cancelled', 'quarantine' }) do
    empty = empty and redis.call('ZCARD', K[role]) == 0
  end
  if empty then
    redis.call('DEL', K.stats)
    gone = 1
  end
end
return reply('ok', reclaimed, promoted, purged, more and 1 or 0, gone)
