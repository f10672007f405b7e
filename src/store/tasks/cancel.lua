-- cancel.lua: cancels a waiting, scheduled, ready or leased task. A leased task's lease ends at once,
-- so its worker's next heartbeat, ack or fail is 409 lease-lost. The task is kept like a
-- completed one, then purged.
-- arg: 1 task id
-- Returns reply('ok', task) | reply('replayed', task) (already cancelled)
--       | reply('finished', task) (completed or dead: nothing to cancel) | reply('not_found').

local id = arg(1)
local meta, raw = load_task(id)
if not meta then
  return reply('not_found')
end
if settle(id, meta) then
  raw = save_meta(id, meta)
end
if meta.state == 'cancelled' then
  return reply('replayed', (task_reply(id, meta, raw or cjson.encode(meta))))
end
if meta.state == 'completed' or meta.state == 'dead' then
  return reply('finished', (task_reply(id, meta, raw or cjson.encode(meta))))
end
if meta.state == 'ready' then
  unready(id, meta)
elseif meta.state == 'scheduled' then
  redis.call('ZREM', K.scheduled, id)
elseif meta.state == 'waiting' then
  redis.call('ZREM', K.dlink, id)
elseif meta.state == 'leased' then
  release_lease(id, meta)
end
finish(id, meta, 'cancelled')
return reply('ok', (task_reply(id, meta, save_meta(id, meta))))
