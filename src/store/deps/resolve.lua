-- resolve.lua: one parent's outcome reaches tasks of this queue that wait for it. Exactly once
-- per child and parent, however many instances deliver it: the outcome is kept per child and
-- parent (`depres`) and counted down (`meta.dwait`) only when it is new. A child whose last
-- parent this was is released (ready, or scheduled until its own run_at); a failed parent ends
-- the child as its `on_dependency_failure` says (default dead; cancel; run: it runs once all
-- have finished). A parent that completes after it failed (a redrive) replaces what its
-- children knew of it (a child still waiting then runs; one that ended stays ended, and runs
-- with the result if redriven).
-- arg: 1 the parent's queue, 2 its id, 3 its outcome (as link.lua answers it), 4.. child ids
-- Returns reply('ok', { child id, state or 'not_found', 1 when it ended here and has
-- dependents to tell (it is in the outbox) else 0, ... }).

local parent_queue, parent, outcome = arg(1), arg(2), arg(3)
local word = string.match(outcome, '^(%a+)')
local out = {}
local i = 4
while arg(i) do
  local id = arg(i)
  i = i + 1
  local meta, raw = load_task(id)
  local ended = 0
  if meta then
    local was = meta.state
    if take_outcome(id, meta, parent_queue, parent, outcome, word) then
      raw = save_meta(id, meta)
    end
    if was == 'waiting' and meta.kids and (meta.state == 'dead' or meta.state == 'cancelled') then
      ended = 1
    end
    if meta.state == 'waiting' then
      -- This parent knew of it: its links stand, and the sweep's re-check can wait.
      redis.call('ZADD', K.dlink, 'XX', now + DEPENDENCY_RECHECK_MS, id)
    end
  end
  table.insert(out, id)
  table.insert(out, meta and meta.state or 'not_found')
  table.insert(out, ended)
end
return reply('ok', out)
