-- commit.lua: every task of a flow is stored: the flow's record becomes its list of tasks, and
-- from then on its tasks may run (store/flows delivers the commit to each; link.lua answers it
-- to the sweep). Refused when the flow took longer than FLOW_COMMIT_MS, or was aborted: the
-- same check link.lua makes, in the same slot, so a flow is either committed or never runs.
-- arg: 1 flow, 2 its record: JSON `{"at": <ms>, "tasks": [[queue, id, ref], ...]}` with "at"
-- left for this script to fill ('"at":0')
-- Returns reply('ok', created at) | reply('expired').

local flow = arg(1)
local staged = tonumber(string.match(redis.call('HGET', K.flows, flow) or '', '^staging (%d+)$'))
if not staged or now - staged > FLOW_COMMIT_MS then
  return reply('expired')
end
local record = string.gsub(arg(2), '^{"at":0', '{"at":' .. string.format('%d', staged), 1)
redis.call('HSET', K.flows, flow, record)
-- Kept while any of its tasks is: checked once their retention could have passed.
local keep = math.max(POLICY.completed_ttl_ms, POLICY.dead_ttl_ms)
redis.call('ZADD', K.fcheck, now + keep, flow)
return reply('ok', staged)
