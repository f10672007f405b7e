-- heartbeat.lua: extends a live lease from now by lease_ms (default: the lease's own length).
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 task id, 2 lease id, 3 lease_ms or ''
-- Returns { 'ok', now, leased_until } | { 'lease_lost', now } | { 'not_found', now }.

local id, lease_id, requested_ms = arg(1), arg(2), tonumber(arg(3))
local now = now_ms()
local meta = load_meta(id)
if not meta then
  return { 'not_found', now }
end
if not holds_lease(id, meta, lease_id, now) then
  return { 'lease_lost', now }
end
meta.lease_len = requested_ms or meta.lease_len
meta.leased_until = now + meta.lease_len
redis.call('ZADD', K_LEASED, meta.leased_until, id)
save_meta(id, meta)
return { 'ok', now, meta.leased_until }
