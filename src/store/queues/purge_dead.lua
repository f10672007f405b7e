-- purge_dead.lua: deletes the queue's oldest dead tasks, at most SWEEP_ITEMS_MAX per call (and
-- PURGE_BYTES_MAX freed); the server repeats until none are left. A dead task whose outcome
-- has yet to reach the tasks that wait for it (store/deps) is left for now, and not counted as
-- remaining.
-- arg: 1 how many at most
-- Returns reply('ok', purged, remaining).

local ids = redis.call('ZRANGE', K.dead, 0, math.min(tonumber(arg(1)), SWEEP_ITEMS_MAX) - 1)
local purged, freed = 0, 0
local kept = 0
for _, id in ipairs(ids) do
  if redis.call('ZSCORE', K.outbox, id) then
    -- Its outcome has yet to reach the tasks that wait for it: purged by a later call, or by
    -- its retention, once it has.
    kept = kept + 1
  else
    freed = freed + erase(id)
    erase_links(id)
    redis.call('ZREM', K.dead, id)
    purged = purged + 1
    if freed >= PURGE_BYTES_MAX then
      break
    end
  end
end
return reply('ok', purged, redis.call('ZCARD', K.dead) - kept)
