-- redrive.lua: moves dead tasks back to ready, attempts reset (their error history is kept,
-- their last attempt's progress report is not: attempts count from 0 again, and the new
-- first attempt's report must not be confused with it), the listed ones or the oldest ones. At most SWEEP_ITEMS_MAX per call; the server repeats.
-- arg: 1 how many of the oldest to take when no ids are given, 2.. task ids
-- Returns reply('ok', redriven, skipped) (skipped: listed ids that are not dead).

local ids = {}
if arg(2) then
  local i = 2
  while arg(i) do
    table.insert(ids, arg(i))
    i = i + 1
  end
else
  ids = redis.call('ZRANGE', K.dead, 0, math.min(tonumber(arg(1)), SWEEP_ITEMS_MAX) - 1)
end
local redriven, skipped = 0, 0
for _, id in ipairs(ids) do
  local meta = load_task(id)
  if meta and meta.state == 'dead' then
    redis.call('ZREM', K.dead, id)
    meta.attempts, meta.attempts_expired, meta.attempts_failed = 0, 0, 0
    meta.finished_at, meta.prog, meta.prog_at = nil, nil, nil
    redis.call('HDEL', K.progress, id)
    if meta.group then
      group_joined(meta.group)
    end
    if meta.rset then
      requires_joined(meta.rset, false) -- never refused: the task was accepted once
    end
    place(id, meta, now)
    save_meta(id, meta)
    redriven = redriven + 1
  else
    skipped = skipped + 1
  end
end
if redriven > 0 then
  redis.call('HINCRBY', K.stats, 'redriven', redriven)
end
return reply('ok', redriven, skipped)
