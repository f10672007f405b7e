-- submit_one.lua: the one way a task is added, shared by submit.lua and submit_batch.lua
-- (which alone declare the idempotency keys it uses).

-- Adds one task, unless its payload is over the queue's cap. With an idempotency key, a repeat
-- within the queue's dedup window gets the first task back instead (the key is checked and
-- recorded in this same atomic step, so concurrent submits with one key create one task).
-- Returns a reply list: { 'created', meta JSON } | { 'replayed', task } | { 'too_large', cap }
-- | { 'key_reused', first task id } (the same key with another body)
-- | { 'key_gone', first task id } (its task has already been removed) | { 'exists' }
-- | { 'requires_full', REQUIREMENT_SETS_MAX } (its requirement set would be one too many)
-- | { 'debounced', task } (the debounce key's task took this submit, see `debounced`).
--
-- Debounce (`dkey`, `ddelay` ms, `dmax` ms or ''): the key's task, while it still waits for its
-- run time, takes this submit's fields and runs `ddelay` after it, but never later than `dmax`
-- after the key's first submit; else a new task is added, to run after `ddelay` (or `dmax`),
-- and becomes the key's. `debounce` holds "<task id> <first submit ms>" per key only while its
-- task waits: a task that becomes ready or finishes lets go of its key (lifecycle.lua).
--
-- Dependencies (`parents`, JSON `[[queue, id], ...]`, or ''; `dfail` the stored
-- on_dependency_failure): the task is `waiting`, with its start time kept in run_at, until
-- every parent's outcome has reached it (store/deps, resolve.lua). It is due for its links to
-- be made (dlink) after a grace the submitting instance uses to make them itself.
local function submit_one(id, payload, priority, delay_ms, run_at, max_attempts, lease_ms, key,
    fingerprint, group, start_within_ms, requires, dkey, ddelay, dmax, parents, dfail)
  if key ~= '' then
    local known = redis.call('HGET', K.idempotency, key)
    local expires = tonumber(redis.call('ZSCORE', K.idempotency_expiry, key))
    if known and expires and expires > now then
      local first_id, first_print = string.match(known, '^(%S+) (%S+)$')
      if first_print ~= fingerprint then
        return { 'key_reused', first_id or '' }
      end
      local meta, raw = load_task(first_id)
      if not meta then
        return { 'key_gone', first_id }
      end
      return { 'replayed', (task_reply(first_id, meta, raw or cjson.encode(meta))) }
    end
  end
  if #payload > POLICY.max_payload_bytes then
    return { 'too_large', POLICY.max_payload_bytes }
  end
  if redis.call('HEXISTS', K.meta, id) == 1 then
    return { 'exists' }
  end
  local rset = requires ~= '' and requires or nil
  local g = group ~= '' and group or nil
  if dkey ~= '' then
    local entry = redis.call('HGET', K.debounce, dkey)
    local did, first = string.match(entry or '', '^(%S+) (%d+)$')
    local meta = did and load_task(did)
    -- A task whose run time has come is ready, whether or not a sweep has said so yet: it lets
    -- go of the key, and this submit starts a new task.
    if meta and meta.state == 'scheduled' and meta.dkey == dkey and settle(did, meta) then
      meta = nil
    end
    if meta and meta.state == 'scheduled' and meta.dkey == dkey then
      if rset ~= meta.rset then
        -- Its old set is left first, so a swap at the cap is not refused.
        if meta.rset then
          requires_left(meta.rset)
        end
        if rset and not requires_joined(rset, true) then
          if meta.rset then
            requires_joined(meta.rset, false)
          end
          return { 'requires_full', REQUIREMENT_SETS_MAX }
        end
      end
      if g ~= meta.group then
        if meta.group then
          group_finished(did, meta)
        end
        if g then
          group_joined(g)
        end
      end
      redis.call('HSET', K.payload, did, payload)
      meta.priority, meta.max_attempts, meta.lease_ms = tonumber(priority), tonumber(max_attempts), tonumber(lease_ms)
      meta.start_ms, meta.group, meta.rset = tonumber(start_within_ms), g, rset
      local at = now + tonumber(ddelay)
      if dmax ~= '' then
        at = math.min(at, tonumber(first) + tonumber(dmax))
      end
      redis.call('ZREM', K.scheduled, did)
      place(did, meta, at)
      redis.call('HINCRBY', K.stats, 'debounced', 1)
      return { 'debounced', (task_reply(did, meta, save_meta(did, meta))) }
    end
  end
  if rset and not requires_joined(rset, true) then
    return { 'requires_full', REQUIREMENT_SETS_MAX }
  end
  local start = now
  if dkey ~= '' then
    start = now + math.min(tonumber(ddelay), tonumber(dmax) or tonumber(ddelay))
  elseif delay_ms ~= '' then
    start = now + tonumber(delay_ms)
  elseif run_at ~= '' then
    start = tonumber(run_at)
  end
  local meta = {
    v = RECORD_VERSION,
    priority = tonumber(priority),
    attempts = 0,
    max_attempts = tonumber(max_attempts),
    attempts_expired = 0,
    attempts_failed = 0,
    created_at = now,
    lease_ms = tonumber(lease_ms),
    group = group ~= '' and group or nil,
    start_ms = tonumber(start_within_ms),
    rset = rset,
  }
  redis.call('HSET', K.payload, id, payload)
  if meta.group then
    group_joined(meta.group)
  end
  if dkey ~= '' then
    meta.dkey = dkey
    redis.call('HSET', K.debounce, dkey, id .. ' ' .. string.format('%d', now))
  end
  if parents and parents ~= '' then
    meta.dn = #cjson.decode(parents)
    meta.dwait, meta.dfail = meta.dn, dfail ~= '' and dfail or nil
    meta.state, meta.run_at = 'waiting', start
    redis.call('HSET', K.parents, id, parents)
    redis.call('ZADD', K.dlink, now + DEPENDENCY_LINK_GRACE_MS, id)
    table.insert(EVENTS.tasks, id)
  else
    place(id, meta, start)
  end
  redis.call('HINCRBY', K.stats, 'submitted', 1)
  if key ~= '' then
    redis.call('HSET', K.idempotency, key, id .. ' ' .. fingerprint)
    redis.call('ZADD', K.idempotency_expiry, now + POLICY.dedup_window_ms, key)
  end
  return { 'created', save_meta(id, meta) }
end
