-- heartbeat.lua: extends a live lease from now by lease_ms (default: the lease's own length),
-- and keeps the progress it reports, if any, as the current attempt's (announced to the
-- task's event streams).
-- arg: 1 task id, 2 lease id, 3 lease_ms or '', 4 progress (JSON text) or ''
-- Returns reply('ok', leased_until) | reply('lease_lost') | reply('not_found').

local id, lease_id, requested_ms, progress = arg(1), arg(2), tonumber(arg(3)), arg(4)
local meta, why = load_task(id)
if not meta then
  return reply(why == 'not_found' and 'not_found' or 'lease_lost')
end
if not holds_lease(id, meta, lease_id) then
  return reply('lease_lost')
end
worker_seen(meta.worker or '')
meta.lease_len = requested_ms or meta.lease_len
meta.leased_until = now + meta.lease_len
redis.call('ZADD', K.leased, meta.leased_until, id)
if progress and progress ~= '' then
  redis.call('HSET', K.progress, id, progress)
  meta.prog, meta.prog_at = meta.attempts, now
  table.insert(EVENTS.tasks, id)
end
save_meta(id, meta)
return reply('ok', meta.leased_until)
