-- forget.lua: a flow none of whose tasks is left (or one never committed, long ago) is
-- forgotten, unless its record changed since the sweep read it.
-- arg: 1 flow, 2 the record as read
-- Returns reply('ok', 1 forgotten | 0 kept).

local flow = arg(1)
if (redis.call('HGET', K.flows, flow) or '') ~= arg(2) then
  return reply('ok', 0)
end
redis.call('HDEL', K.flows, flow)
redis.call('ZREM', K.fcheck, flow)
return reply('ok', 1)
