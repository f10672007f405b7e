-- get.lua: reads one task. It first settles what the Redis clock says has already happened
-- (an expired lease, a due schedule, a passed start deadline), so what a reader sees is what the next call will find.
-- arg: 1 task id
-- Returns reply('ok', task) | reply('not_found') | reply('quarantined').

local id = arg(1)
local meta, raw = load_task(id)
if not meta then
  return reply(raw) -- load_task's reason: 'not_found' or 'quarantined'
end
if settle(id, meta) or not raw then
  raw = save_meta(id, meta)
end
return reply('ok', (task_reply(id, meta, raw)))
