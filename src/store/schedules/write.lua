-- write.lua: creates or replaces one schedule, atomically with its version check, and sets when
-- it next fires. The version grows by one on every write; it is the schedule's ETag.
-- arg: 1 name, 2 expected version or '' (none; 0: the schedule must not exist yet),
--      3 the record (JSON), 4 next tick (ms) or '' (paused or ended: not due),
--      5 most schedules the queue may hold (model::SCHEDULES_MAX)
-- Returns reply('ok', version) | reply('stale', version) | reply('full', the most).

local name, expected, record, next_tick = arg(1), arg(2), arg(3), arg(4)
local entry = redis.call('HGET', K.schedules, name)
local version = entry and tonumber(string.match(entry, '^(%d+) ')) or 0
if expected ~= '' and tonumber(expected) ~= version then
  return reply('stale', version)
end
if not entry and redis.call('HLEN', K.schedules) >= tonumber(arg(5)) then
  return reply('full', tonumber(arg(5)))
end
version = version + 1
redis.call('HSET', K.schedules, name, string.format('%d', version) .. ' ' .. record)
redis.call('ZADD', K.snames, 0, name)
if next_tick ~= '' then
  redis.call('ZADD', K.sdue, tonumber(next_tick), name)
else
  redis.call('ZREM', K.sdue, name)
end
return reply('ok', version)
