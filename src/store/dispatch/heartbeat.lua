-- heartbeat.lua: extends a live lease from now by lease_ms (default: the lease's own length).
-- arg: 1 task id, 2 lease id, 3 lease_ms or ''
-- Returns reply('ok', leased_until) | reply('lease_lost') | reply('not_found').

local id, lease_id, requested_ms = arg(1), arg(2), tonumber(arg(3))
local meta, why = load_task(id)
if not meta then
  return reply(why == 'not_found' and 'not_found' or 'lease_lost')
end
if not holds_lease(id, meta, lease_id) then
  return reply('lease_lost')
end
meta.lease_len = requested_ms or meta.lease_len
meta.leased_until = now + meta.lease_len
redis.call('ZADD', K.leased, meta.leased_until, id)
save_meta(id, meta)
return reply('ok', meta.leased_until)
