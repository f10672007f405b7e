-- ack.lua: completes a leased task, storing the worker's result.
-- Two scripts come from this file: one without a result may run when Redis is out of memory
-- (it only shrinks state); the one with a result may not.
-- arg: 1 task id, 2 lease id, 3 result (JSON text, stored as given) or '' (none)
-- Returns reply('ok', task) | reply('replayed', task) (this lease already acked it)
--       | reply('lease_lost') | reply('not_found')
--       | reply('too_large', the queue's max_payload_bytes) (nothing changed).

local id, lease_id, result = arg(1), arg(2), arg(3)
if #result > POLICY.max_payload_bytes then
  return reply('too_large', POLICY.max_payload_bytes)
end
local meta, status, current = claim_for_finish(id, lease_id, 'ack')
if not meta then
  if status == 'replayed' then
    return reply(status, (task_reply(id, current, cjson.encode(current))))
  end
  return reply(status)
end
release_lease(id, meta)
meta.acked_by = lease_id
if result ~= '' then
  redis.call('HSET', K.result, id, result)
end
finish(id, meta, 'completed')
return reply('ok', (task_reply(id, meta, save_meta(id, meta))))
