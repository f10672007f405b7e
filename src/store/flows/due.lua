-- due.lua: flows due for the sweep's check (is any of their tasks left? was the flow ever
-- committed?), moved on by their retention so other instances do not all take them at once.
-- arg: 1 most flows
-- Returns reply('ok', { flow, record or false, ... }).

local out = {}
local keep = math.max(POLICY.completed_ttl_ms, POLICY.dead_ttl_ms)
for _, flow in ipairs(redis.call('ZRANGEBYSCORE', K.fcheck, '-inf', now, 'LIMIT', 0, tonumber(arg(1)))) do
  redis.call('ZADD', K.fcheck, now + keep, flow)
  table.insert(out, flow)
  table.insert(out, redis.call('HGET', K.flows, flow) or false)
end
return reply('ok', out)
