-- fail.lua: records a failed attempt; the task retries after its backoff (or retry_in_ms,
-- capped at backoff.max_ms) while attempts remain and retry is true, otherwise it is dead.
-- Two scripts come from this file: one for short error texts may run when Redis is out of
-- memory; the one for long texts may not.
-- arg: 1 task id, 2 lease id, 3 error message, 4 retry '1' or '0', 5 retry_in_ms or ''
-- Returns reply('ok', task) | reply('replayed', task) (this lease already failed an attempt)
--       | reply('lease_lost') | reply('not_found').

local id, lease_id, message, retry = arg(1), arg(2), arg(3), arg(4) == '1'
local meta, status, current = claim_for_finish(id, lease_id, 'fail')
if not meta then
  if status == 'replayed' then
    return reply(status, (task_reply(id, current, cjson.encode(current))))
  end
  return reply(status)
end
local delay_ms = tonumber(arg(5))
if delay_ms then
  delay_ms = math.min(delay_ms, POLICY['backoff.max_ms'])
end
record_failure(id, meta, 'failed', message, lease_id)
retry_or_bury(id, meta, retry, delay_ms)
return reply('ok', (task_reply(id, meta, save_meta(id, meta))))
