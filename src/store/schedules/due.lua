-- due.lua: the schedules whose next tick has come, oldest first, with their records, for the
-- sweep to decide and fire one by one (fire.lua). Found by next tick in `sdue`, so the cost
-- does not grow with the schedules that are not due. Writes nothing but index repairs.
-- arg: 1 most schedules to return
-- Returns reply('ok', { name, tick, entry, ... }).

local due = redis.call('ZRANGEBYSCORE', K.sdue, '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(arg(1)))
local out = {}
for i = 1, #due, 2 do
  -- A member that is no schedule name (written by hand) would come first forever: dropped.
  local named = #due[i] <= 128 and string.find(due[i], '^[%w%._%-]+$')
  local entry = named and redis.call('HGET', K.schedules, due[i])
  if entry then
    table.insert(out, due[i])
    table.insert(out, tonumber(due[i + 1]))
    table.insert(out, entry)
  else
    -- Its record was deleted under it (a DEL of the hash), or it is no name: nothing to fire.
    redis.call('ZREM', K.sdue, due[i])
  end
end
return reply('ok', out)
