-- history.lua: a queue's history ring (prelude/history.lua) and its snapshot now, to work out
-- per-minute counts from. Reads HISTORY_MINUTES fields at most, whatever the queue holds.
-- arg: none
-- Returns reply('ok', { snapshot line, ... } (each with its minute first), the snapshot now)
-- or reply('not_found') for a queue with no trace in Redis.

if redis.call('EXISTS', K.stats, K.policy) == 0 then
  return reply('not_found')
end
return reply('ok', redis.call('HVALS', K.history), snapshot_now())
