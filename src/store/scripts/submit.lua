-- submit.lua: adds one new task to the queue, ready now or scheduled for later.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 task id, 2 payload JSON, 3 priority, 4 delay_ms or '', 5 run_at (epoch ms) or '',
--      6 max_attempts or '' (policy default), 7 lease_ms or '' (no per-task lease length)
-- Returns { 'created', now, task } or { 'exists', now } when the id is taken.

local id = arg(1)
local now = now_ms()
if redis.call('HEXISTS', K_META, id) == 1 then
  return { 'exists', now }
end

local run_at = now
if arg(4) ~= '' then
  run_at = now + tonumber(arg(4))
elseif arg(5) ~= '' then
  run_at = tonumber(arg(5))
end

local meta = {
  priority = tonumber(arg(3)),
  attempts = 0,
  max_attempts = tonumber(arg(6)) or POLICY.max_attempts,
  attempts_expired = 0,
  attempts_failed = 0,
  created_at = now,
  lease_ms = tonumber(arg(7)),
}
redis.call('HSET', K_PAYLOAD, id, arg(2))
place(id, meta, run_at, now)
redis.call('HINCRBY', K_STATS, 'submitted', 1)
return { 'created', now, task_reply(id, save_meta(id, meta)) }
