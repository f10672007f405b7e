-- delete.lua: deletes one schedule (its record, its place in the due set, its runs), atomically
-- with its version check. Tasks it already submitted stay. A sweep that read the schedule
-- before finds it gone when it tries to fire it (fire.lua), so no task follows a delete.
-- arg: 1 name, 2 expected version or '' (none)
-- Returns reply('ok', version deleted) | reply('stale', version) | reply('not_found').

local name, expected = arg(1), arg(2)
local entry = redis.call('HGET', K.schedules, name)
if not entry then
  return reply('not_found')
end
local version = tonumber(string.match(entry, '^(%d+) ')) or 0
if expected ~= '' and tonumber(expected) ~= version then
  return reply('stale', version)
end
redis.call('HDEL', K.schedules, name)
redis.call('HDEL', K.sruns, name)
redis.call('ZREM', K.snames, name)
redis.call('ZREM', K.sdue, name)
return reply('ok', version)
