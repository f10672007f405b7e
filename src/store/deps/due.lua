-- due.lua: what the sweep delivers for this queue: finished tasks whose outcome has waited in
-- the outbox past OUTBOX_GRACE_MS (left to the instance that finished them until then), and
-- waiting tasks due for their parents to be (re)linked, each with the parents it has not heard
-- from. The latter are moved on by DEPENDENCY_LINK_GRACE_MS, so sweeps of other instances do not
-- all take them at once (linked.lua moves them further once linked). A task in `dlink` that no
-- longer waits leaves it, and one whose list of parents was lost goes dead.
-- arg: 1 most of each kind
-- Returns reply('ok', { outbox task id, ... }, { child id, { parent queue, parent id, ... }, ... }).

local limit = tonumber(arg(1))
local outbox = redis.call('ZRANGEBYSCORE', K.outbox, '-inf', now - OUTBOX_GRACE_MS, 'LIMIT', 0, limit)
-- Each is due again a grace later, behind the others: one that keeps failing (its children's
-- slot refusing) does not hold up the rest.
for _, id in ipairs(outbox) do
  redis.call('ZADD', K.outbox, now, id)
end
local links = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.dlink, '-inf', now, 'LIMIT', 0, limit)) do
  local meta = load_task(id)
  if meta and meta.state == 'waiting' and #dependencies(id) == 0 then
    -- Its list of parents is gone (a deleted or hand-edited `parents` field): it could never
    -- hear from them, so it does not run.
    redis.call('ZREM', K.dlink, id)
    append_history(id, meta, 'dependency', 'its list of dependencies was lost; it cannot know they finished')
    finish(id, meta, 'dead')
    save_meta(id, meta)
  elseif meta and meta.state == 'waiting' then
    redis.call('ZADD', K.dlink, now + DEPENDENCY_LINK_GRACE_MS, id)
    table.insert(links, id)
    table.insert(links, unheard_parents(id))
  else
    redis.call('ZREM', K.dlink, id)
  end
end
return reply('ok', outbox, links)
