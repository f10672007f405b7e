-- list.lua: a page of the queue's schedules, by name. Writes nothing but index repairs (a name
-- whose record is gone leaves the index).
-- arg: 1 the last name of the page before, or '' (the first page); 2 page size
-- Returns reply('ok', { name, entry, next tick or false, runs JSON or false, ... }, more (1 or 0)).

local after, limit = arg(1), tonumber(arg(2))
local from = after == '' and '-' or '(' .. after
local names = redis.call('ZRANGEBYLEX', K.snames, from, '+', 'LIMIT', 0, limit + 1)
local more = 0
if #names > limit then
  names[#names] = nil
  more = 1
end
local out = {}
for _, name in ipairs(names) do
  local entry = redis.call('HGET', K.schedules, name)
  -- A name whose record is gone (a DEL of the hash) is dropped from the index as met.
  if entry then
    local due = redis.call('ZSCORE', K.sdue, name)
    table.insert(out, name)
    table.insert(out, entry)
    table.insert(out, due and tonumber(due) or false)
    table.insert(out, redis.call('HGET', K.sruns, name) or false)
  else
    redis.call('ZREM', K.snames, name)
  end
end
return reply('ok', out, more)
