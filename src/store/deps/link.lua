-- link.lua: tells tasks of this queue that a task (of any queue) waits for them. Each parent
-- gets the child among its dependents (`kids`) and is marked (`meta.kids`), so its finish puts
-- it in the outbox (prelude/lifecycle.lua, `finish`); a parent that has already finished
-- answers its outcome at once, for the child's side to take. This runs in the parent's slot,
-- atomically with any finish of it: either that finish sees the child, or this sees the finish.
-- Idempotent: a repeat adds nothing.
-- arg: 1 the child's queue, 2 the child's id, 3.. parent ids
-- Returns reply('ok', { parent id, outcome or false (not finished), ... }); an outcome is
-- 'gone' (no such task), '<state>', '<state> <result>' or '<state>+' (a result too large for
-- any child to keep: read it with GET).

-- A flow's commit (store/flows) stands as a parent of each of its tasks, named '~<flow>':
-- 'completed' once the flow is committed; false while it is being stored; 'gone' when it has no
-- record, or was never committed within FLOW_COMMIT_MS (it is then marked aborted in this same
-- step, so it can no longer commit: its tasks never run).
local function flow_outcome(flow)
  local record = redis.call('HGET', K.flows, flow)
  local staged = record and tonumber(string.match(record, '^staging (%d+)$'))
  if not record or string.find(record, '^aborted') then
    return 'gone'
  elseif not staged then
    return 'completed'
  elseif now - staged <= FLOW_COMMIT_MS then
    return false
  end
  redis.call('HSET', K.flows, flow, 'aborted ' .. string.format('%d', now))
  return 'gone'
end

local child = ' ' .. arg(1) .. ' ' .. arg(2)
local out = {}
local i = 3
while arg(i) do
  local id = arg(i)
  local meta = string.sub(id, 1, 1) ~= '~' and load_task(id)
  local outcome = false
  if string.sub(id, 1, 1) == '~' then
    outcome = flow_outcome(string.sub(id, 2))
  elseif not meta then
    outcome = 'gone'
  else
    redis.call('ZADD', K.kids, 0, id .. child)
    if not meta.kids then
      meta.kids = 1
      save_meta(id, meta)
    end
    outcome = finished_outcome(id, meta)
  end
  table.insert(out, id)
  table.insert(out, outcome)
  i = i + 1
end
return reply('ok', out)
