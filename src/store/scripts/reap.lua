-- reap.lua: one bounded sweep of a queue: reclaims expired leases, promotes due scheduled tasks
-- and purges terminal tasks past their retention. Every instance runs it; it is atomic, so
-- concurrent sweeps never double-handle a task.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 most items handled per kind
-- Returns { 'ok', now, reclaimed, promoted, purged, more }; more is 1 when some kind hit the
-- limit, so more work is already waiting.

local limit = tonumber(arg(1))
local now = now_ms()
local reclaimed = reclaim_expired(now, limit)
local promoted = promote_due(now, limit)

local purged, more = 0, reclaimed == limit or promoted == limit
for _, key in pairs(TERMINAL_KEY) do
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, limit)
  if #ids > 0 then
    for _, hash in ipairs({ K_META, K_PAYLOAD, K_RESULT, K_ERRORS }) do
      redis.call('HDEL', hash, unpack(ids))
    end
    redis.call('ZREM', key, unpack(ids))
    purged = purged + #ids
    more = more or #ids == limit
  end
end
return { 'ok', now, reclaimed, promoted, purged, more and 1 or 0 }
