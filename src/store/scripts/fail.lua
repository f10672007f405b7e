-- fail.lua: records a failed attempt; the task retries after its backoff (or retry_in_ms,
-- capped at backoff.max_ms) while attempts remain and retry is true, otherwise it is dead.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 task id, 2 lease id, 3 error message, 4 retry '1' or '0', 5 retry_in_ms or ''
-- Returns { 'ok', now, task } | { 'replayed', now, task } (this lease already failed it)
--       | { 'lease_lost', now } | { 'not_found', now }.

local id, lease_id, message, retry = arg(1), arg(2), arg(3), arg(4) == '1'
local now = now_ms()
local meta, reply = claim_for_finish(id, lease_id, 'fail', now)
if not meta then
  return reply
end
local delay_ms = tonumber(arg(5))
if delay_ms then
  delay_ms = math.min(delay_ms, POLICY.backoff_max_ms)
end
record_failure(id, meta, 'failed', message, now)
retry_or_bury(id, meta, now, retry, delay_ms, 'fail')
return { 'ok', now, task_reply(id, save_meta(id, meta)) }
