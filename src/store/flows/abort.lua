-- abort.lua: a flow that will not be committed (a task refused by its queue, an error, its
-- commit window passed) is marked aborted, so the sweep's re-link of any task of it answers
-- `gone` at once and a late commit is refused; its idempotency key is let go, so the request
-- can be sent again.
-- Once every task it stored has been taken back (discard.lua), nothing needs the mark: with
-- `forget`, an aborted record goes.
-- arg: 1 flow (its uuid), 2 idempotency key or '', 3 'forget' or ''
-- Returns reply('ok') | reply('committed') (the flow was committed: nothing changed).

local flow, key = arg(1), arg(2)
local record = redis.call('HGET', K.flows, flow) or ''
if record ~= '' and not string.find(record, '^staging ') and not string.find(record, '^aborted ') then
  -- Committed after all (its reply was lost on the way): nothing is taken back.
  return reply('committed')
end
if string.find(record, '^staging ') then
  redis.call('HSET', K.flows, flow, 'aborted ' .. string.format('%d', now))
elseif arg(3) == 'forget' and string.find(record, '^aborted ') then
  redis.call('HDEL', K.flows, flow)
  redis.call('ZREM', K.fcheck, flow)
end
if key ~= '' then
  key = '\31flow ' .. key
  if string.match(redis.call('HGET', K.idempotency, key) or '', '^(%S+)') == flow then
    redis.call('HDEL', K.idempotency, key)
    redis.call('ZREM', K.idempotency_expiry, key)
  end
end
return reply('ok')
