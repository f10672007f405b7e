-- begin.lua: a flow starts being stored: its record says so, with when (its tasks are stored
-- next, each waiting for the flow's commit). Checked again by the sweep after FLOW_COMMIT_MS,
-- to forget it if it was never committed. With an idempotency key, a repeat within the home
-- queue's dedup window gets the first flow instead (kept as `<uuid> <fingerprint>` under
-- "\x1fflow <key>", apart from the keys of single submits).
-- arg: 1 flow (its uuid), 2 idempotency key or '', 3 fingerprint of the request or ''
-- Returns reply('ok') | reply('exists') (a uuid collision) | reply('replayed', first uuid)
--       | reply('key_reused', first uuid) (the same key with another request).

local flow, key, fingerprint = arg(1), arg(2), arg(3)
if key ~= '' then
  key = '\31flow ' .. key
  local known = redis.call('HGET', K.idempotency, key)
  local expires = tonumber(redis.call('ZSCORE', K.idempotency_expiry, key))
  if known and expires and expires > now then
    local first, print = string.match(known, '^(%S+) (%S+)$')
    return reply(print == fingerprint and 'replayed' or 'key_reused', first or '')
  end
end
if redis.call('HSETNX', K.flows, flow, 'staging ' .. string.format('%d', now)) == 0 then
  return reply('exists')
end
redis.call('ZADD', K.fcheck, now + 2 * FLOW_COMMIT_MS, flow)
if key ~= '' then
  redis.call('HSET', K.idempotency, key, flow .. ' ' .. fingerprint)
  redis.call('ZADD', K.idempotency_expiry, now + POLICY.dedup_window_ms, key)
end
return reply('ok')
