-- discard.lua: a flow that will not be committed takes back the tasks it stored in this
-- queue. None of them could run (each waits for the commit) or was ever answered with a 2xx,
-- so each is erased as if never submitted: it leaves its group and requirement counts as any
-- finished task does, then its record, its links and its place in the queue's totals go.
-- arg: 1 the flow's commit parent ('~<uuid>'), 2.. task ids
-- Returns reply('ok', tasks erased).

local commit = arg(1)
local erased = 0
local i = 2
while arg(i) do
  local id = arg(i)
  i = i + 1
  local meta = load_task(id)
  -- Only a task of this flow (its first parent is the flow's commit) that still waits for it.
  local parents = meta and dependencies(id) or {}
  if meta and meta.state == 'waiting' and parents[2] == commit and not heard(parents[3]) then
    redis.call('ZREM', K.dlink, id)
    finish(id, meta, 'cancelled')
    redis.call('ZREM', K.cancelled, id)
    redis.call('ZREM', K.outbox, id)
    erase(id)
    erase_links(id)
    redis.call('HINCRBY', K.stats, 'cancelled', -1)
    redis.call('HINCRBY', K.stats, 'submitted', -1)
    erased = erased + 1
  end
end
return reply('ok', erased)
