-- begin.lua: a flow starts being stored: its record says so, with when (its tasks are stored
-- next, each waiting for the flow's commit). Checked again by the sweep after FLOW_COMMIT_MS,
-- to forget it if it was never committed.
-- arg: 1 flow (its uuid)
-- Returns reply('ok') | reply('exists').

local flow = arg(1)
if redis.call('HSETNX', K.flows, flow, 'staging ' .. string.format('%d', now)) == 0 then
  return reply('exists')
end
redis.call('ZADD', K.fcheck, now + 2 * FLOW_COMMIT_MS, flow)
return reply('ok')
