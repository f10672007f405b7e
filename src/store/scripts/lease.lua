-- lease.lua: leases up to max_tasks ready tasks, highest priority first, FIFO among equals.
-- It first reclaims this queue's expired leases and promotes its due scheduled tasks (bounded),
-- so delivery never waits for the reaper's next sweep.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 worker name or '', 2 lease_ms or '' (task's, else policy's), 3 max_tasks,
--      4.. one fresh lease id per task that may be handed out
-- Returns { 'ok', now, { task, ... } }; each task's meta carries its lease_id and leased_until.

local worker, requested_ms, max_tasks = arg(1), tonumber(arg(2)), tonumber(arg(3))
local now = now_ms()
reclaim_expired(now, 100)
promote_due(now, 100)

local leased = {}
for _, id in ipairs(redis.call('ZRANGE', K_READY, 0, max_tasks - 1)) do
  redis.call('ZREM', K_READY, id)
  local meta = load_meta(id)
  if meta then
    local lease_ms = requested_ms or meta.lease_ms or POLICY.lease_ms
    meta.state = 'leased'
    meta.attempts = meta.attempts + 1
    meta.lease_id = arg(4 + #leased)
    meta.lease_len = lease_ms
    meta.leased_until = now + lease_ms
    meta.worker = worker ~= '' and worker or nil
    redis.call('ZADD', K_LEASED, meta.leased_until, id)
    table.insert(leased, task_reply(id, save_meta(id, meta)))
  end
end
return { 'ok', now, leased }
