-- states.lua: the states of some of this queue's tasks, as stored (a flow's view). Writes
-- nothing; a record that does not read is 'unreadable'.
-- arg: task ids
-- Returns reply('ok', { state or false (no such task), ... }) in order.

local ids = {}
local i = 1
while arg(i) do
  ids[i] = arg(i)
  i = i + 1
end
local states = {}
if #ids > 0 then
  local raws = redis.call('HMGET', K.meta, unpack(ids))
  for n = 1, #ids do
    local state = false
    if raws[n] then
      local ok, meta = pcall(cjson.decode, raws[n])
      state = ok and type(meta) == 'table' and type(meta.state) == 'string' and meta.state or 'unreadable'
    end
    states[n] = state
  end
end
return reply('ok', states)
