-- write.lua: creates or replaces one schedule, atomically with its version check, and sets when
-- it next fires. The version grows on every write (see below); it is the schedule's ETag.
-- arg: 1 name, 2 expected version or '' (none; 0: the schedule must not exist yet),
--      3 the record (JSON), 4 next tick (ms) or '' (paused or ended: not due),
--      5 most schedules the queue may hold (model::SCHEDULES_MAX), 6 '1' when the write keeps
--      the schedule's cadence: then a place it has in the due set stays as it is (a tick that
--      came due and waits for its sweep is not lost, one just fired is not put back)
-- Versions never start again from 1 (a new version is at least the Redis time in ms), so an
-- ETag of a deleted schedule never matches the one made again under its name.
-- Returns reply('ok', version, the tick it waits for or false) | reply('stale', version)
--       | reply('full', the most).

local name, expected, record, next_tick = arg(1), arg(2), arg(3), arg(4)
local entry = redis.call('HGET', K.schedules, name)
local version = entry and tonumber(string.match(entry, '^(%d+) ')) or 0
if expected ~= '' and tonumber(expected) ~= version then
  return reply('stale', version)
end
if not entry and redis.call('HLEN', K.schedules) >= tonumber(arg(5)) then
  return reply('full', tonumber(arg(5)))
end
version = math.max(version + 1, now)
redis.call('HSET', K.schedules, name, string.format('%d', version) .. ' ' .. record)
redis.call('ZADD', K.snames, 0, name)
if next_tick == '' then
  redis.call('ZREM', K.sdue, name)
elseif not (arg(6) == '1' and redis.call('ZSCORE', K.sdue, name)) then
  redis.call('ZADD', K.sdue, tonumber(next_tick), name)
end
local due = redis.call('ZSCORE', K.sdue, name)
return reply('ok', version, due and tonumber(due) or false)
