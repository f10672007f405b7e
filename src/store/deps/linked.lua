-- linked.lua: every parent of a waiting task has it among its dependents (link.lua answered
-- for each), so the sweep need not check again before DEPENDENCY_RECHECK_MS (a safety net for
-- an outcome that could no longer reach it). Also answers the task as it is now.
-- arg: 1 task id
-- Returns reply('ok', task) | reply('not_found').

local id = arg(1)
local meta, raw = load_task(id)
if not meta then
  return reply('not_found')
end
if meta.state == 'waiting' then
  redis.call('ZADD', K.dlink, 'XX', now + DEPENDENCY_RECHECK_MS, id)
end
return reply('ok', (task_reply(id, meta, raw or cjson.encode(meta))))
