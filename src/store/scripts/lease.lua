-- lease.lua: leases up to max_tasks ready tasks, highest priority first, FIFO among equals.
-- It first settles a bounded number of this queue's expired leases and due scheduled tasks, so
-- delivery never waits for the reaper's next sweep.
--
-- Retry-safe leasing: a call with a request_id remembers which leases it granted until the
-- longest of them would expire. Repeating the call with the same request_id returns those of
-- its leases that are still live and leases nothing new, so a reply lost on the way back
-- strands no task and burns no attempt.
--
-- arg: 1 worker name or '', 2 lease_ms or '' (task's, else policy's), 3 max_tasks,
--      4 request_id or '', 5.. one fresh lease id per task that may be handed out
-- Returns reply('ok', { task, ... }) or reply('replayed', { task, ... }); each task's meta
-- carries its lease_id and leased_until.

local worker, requested_ms, max_tasks, request_id = arg(1), tonumber(arg(2)), tonumber(arg(3)), arg(4)

-- The live leases recorded for a request: "<id> <lease id> <id> <lease id> ...".
local function live_leases(recorded)
  local tasks = {}
  for id, lease_id in string.gmatch(recorded, '(%S+) (%S+)') do
    local meta = load_task(id)
    if meta and not settle(id, meta) and meta.state == 'leased' and meta.lease_id == lease_id then
      table.insert(tasks, (task_reply(id, meta, cjson.encode(meta))))
    end
  end
  return tasks
end

if request_id ~= '' then
  local recorded = redis.call('HGET', K.requests, request_id)
  if recorded then
    return reply('replayed', live_leases(recorded))
  end
end

reclaim_expired(INLINE_SETTLE_MAX)
promote_due(INLINE_SETTLE_MAX)

local leased, granted, bytes, longest = {}, {}, 0, 0
for _, member in ipairs(redis.call('ZRANGE', K.ready, 0, max_tasks - 1)) do
  redis.call('ZREM', K.ready, member)
  local id = member_id(member)
  local meta = load_task(id, member)
  if meta and meta.state == 'ready' then
    local lease_ms = requested_ms or meta.lease_ms or POLICY.lease_ms
    meta.state = 'leased'
    meta.seq = nil
    meta.attempts = meta.attempts + 1
    meta.lease_id = arg(5 + #leased)
    meta.lease_len = lease_ms
    meta.leased_until = now + lease_ms
    meta.worker = worker ~= '' and worker or nil
    redis.call('ZADD', K.leased, meta.leased_until, id)
    local task, size = task_reply(id, meta, save_meta(id, meta))
    table.insert(leased, task)
    table.insert(granted, id .. ' ' .. meta.lease_id)
    longest = math.max(longest, lease_ms)
    bytes = bytes + size
    if bytes >= LEASE_REPLY_BYTES_MAX then
      break
    end
  end
end

if request_id ~= '' and #granted > 0 then
  redis.call('HSET', K.requests, request_id, table.concat(granted, ' '))
  redis.call('ZADD', K.request_expiry, now + longest, request_id)
end
return reply('ok', leased)
