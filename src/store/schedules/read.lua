-- read.lua: one schedule as stored, its runs with the state each run's task is in now, and
-- when it next fires. Writes nothing.
-- arg: 1 name
-- Returns reply('ok', entry or false, runs JSON or false, next tick or false,
--   { state of each run's task, or '' when it is gone }).

local name = arg(1)
local entry = redis.call('HGET', K.schedules, name)
if not entry then
  return reply('ok', false, false, false, {})
end
local runs = redis.call('HGET', K.sruns, name)
local states = {}
local ok, log = pcall(cjson.decode, runs or '{}')
if ok and type(log) == 'table' and type(log.runs) == 'table' then
  for i, run in ipairs(log.runs) do
    local state = ''
    local id = type(run) == 'table' and run[2]
    if type(id) == 'string' then
      local meta = redis.call('HGET', K.meta, id)
      local read, decoded = pcall(cjson.decode, meta or '')
      if read and type(decoded) == 'table' and type(decoded.state) == 'string' then
        state = decoded.state
      end
    end
    states[i] = state
  end
end
local due = redis.call('ZSCORE', K.sdue, name)
return reply('ok', entry, runs or false, due and tonumber(due) or false, states)
