-- counts.lua: the number of tasks in each state, for the scripts that report them.

-- The number of tasks in each state (ZCARDs, so O(1) each), in the order the store reads them
-- (`Reply::counts`). Only for scripts that declare every state role, `gready` and `rready`
-- (ready tasks with a group or with requirements: prelude/groups.lua, prelude/requires.lua)
-- and `dlink`.
local function state_counts()
  local counts = {}
  for _, role in ipairs({ 'ready', 'scheduled', 'leased', 'completed', 'dead', 'cancelled', 'quarantine' }) do
    table.insert(counts, redis.call('ZCARD', K[role]))
  end
  counts[1] = counts[1] + redis.call('ZCARD', K.gready) + redis.call('ZCARD', K.rready)
  -- Waiting tasks (store/deps) are in `dlink` until their parents have all finished.
  table.insert(counts, redis.call('ZCARD', K.dlink))
  return counts
end

-- The task groups with ready tasks, and how many of them a limit holds (prelude/groups.lua:
-- `gstate` has each group with ready tasks, `gturn` and `rturn` those that take their turns).
-- Only for scripts that declare all three.
local function group_tally()
  local ready = redis.call('HLEN', K.gstate)
  local turns = redis.call('ZCARD', K.gturn) + redis.call('ZCARD', K.rturn)
  return { ready, math.max(0, ready - turns) }
end
