-- ack.lua: completes a leased task, storing the worker's result.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 task id, 2 lease id, 3 result JSON or '' (none)
-- Returns { 'ok', now, task } | { 'replayed', now, task } (this lease already acked it)
--       | { 'lease_lost', now } | { 'not_found', now }.

local id, lease_id, result = arg(1), arg(2), arg(3)
local now = now_ms()
local meta, reply = claim_for_finish(id, lease_id, 'ack', now)
if not meta then
  return reply
end
release_lease(id, meta, 'ack')
if result ~= '' then
  redis.call('HSET', K_RESULT, id, result)
end
finish(id, meta, 'completed', now)
return { 'ok', now, task_reply(id, save_meta(id, meta)) }
