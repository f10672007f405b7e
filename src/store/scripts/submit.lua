-- submit.lua: adds one new task to the queue, ready now or scheduled for later.
-- arg: 1 task id, 2 payload (JSON text, stored as given), 3 priority, 4 delay_ms or '',
--      5 run_at (epoch ms) or '', 6 max_attempts or '' (the policy's, whenever it matters),
--      7 lease_ms or '' (none)
-- Returns reply('created', meta JSON, policy max_attempts) (the caller has the payload),
-- reply('too_large', the queue's max_payload_bytes), or reply('exists') when the id is taken.

local id = arg(1)
if #arg(2) > POLICY.max_payload_bytes then
  return reply('too_large', POLICY.max_payload_bytes)
end
if redis.call('HEXISTS', K.meta, id) == 1 then
  return reply('exists')
end

local run_at = now
if arg(4) ~= '' then
  run_at = now + tonumber(arg(4))
elseif arg(5) ~= '' then
  run_at = tonumber(arg(5))
end

local meta = {
  v = RECORD_VERSION,
  priority = tonumber(arg(3)),
  attempts = 0,
  max_attempts = tonumber(arg(6)),
  attempts_expired = 0,
  attempts_failed = 0,
  created_at = now,
  lease_ms = tonumber(arg(7)),
}
redis.call('HSET', K.payload, id, arg(2))
place(id, meta, run_at)
redis.call('HINCRBY', K.stats, 'submitted', 1)
return reply('created', save_meta(id, meta), POLICY.max_attempts)
