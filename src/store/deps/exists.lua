-- exists.lua: which of the given task ids this queue does not hold (checked before a task that
-- depends on them is stored, so an unknown parent is refused and nothing is stored).
-- arg: task ids
-- Returns reply('ok', { unknown id, ... }).

local unknown = {}
local i = 1
while arg(i) do
  if redis.call('HEXISTS', K.meta, arg(i)) == 0 then
    table.insert(unknown, arg(i))
  end
  i = i + 1
end
return reply('ok', unknown)
