-- deps.lua: dependencies between tasks (store/deps): what a finished parent tells its
-- children, how a child takes it, and what a purge of either erases. After `lifecycle`.

-- A task's outcome as its children keep it, or false while it has not finished: '<state>',
-- '<state> <result>' for a completed task with a result, '<state>+' when that result is over
-- DEPENDENCY_RESULTS_MAX_BYTES (no child could keep it: it reads it with GET).
local function finished_outcome(id, meta)
  local state = meta.state
  if state ~= 'completed' and state ~= 'dead' and state ~= 'cancelled' then
    return false
  end
  if state == 'completed' then
    local bytes = redis.call('HSTRLEN', K.result, id)
    if bytes > DEPENDENCY_RESULTS_MAX_BYTES then
      return state .. '+'
    elseif bytes > 0 then
      return state .. ' ' .. redis.call('HGET', K.result, id)
    end
  end
  return state
end

-- What a child keeps of an outcome: its result too while the child's budget for its parents'
-- results (meta.dbytes, DEPENDENCY_RESULTS_MAX_BYTES in all) allows, else '<state>+'.
local function kept_outcome(meta, outcome, word)
  local bytes = #outcome - #word - 1
  if bytes <= 0 then
    return outcome
  end
  if (meta.dbytes or 0) + bytes > DEPENDENCY_RESULTS_MAX_BYTES then
    return word .. '+'
  end
  meta.dbytes = (meta.dbytes or 0) + bytes
  return outcome
end

-- A child takes one parent's outcome (`word` is its state: completed, dead, cancelled, gone).
-- Counted once per parent: a repeat changes nothing, except that a parent that completed
-- after it failed (a redrive) replaces what the child knew of it. Returns whether the child's
-- record changed (the caller saves it). A child that ends here and has dependents of its own
-- is in its outbox now (`finish`): the caller says so, so its outcome goes on at once.
local function take_outcome(id, meta, parent_queue, parent, outcome, word)
  local field = id .. ' ' .. parent_queue .. ' ' .. parent
  local known = redis.call('HGET', K.depres, field)
  if heard(known) then
    if word == 'completed' and string.match(known, '^(%a+)') ~= 'completed' then
      redis.call('HSET', K.depres, field, kept_outcome(meta, outcome, word))
      return true
    end
    return false
  end
  if (meta.dwait or 0) <= 0 then
    return false -- no parent left to hear from: a stray delivery
  end
  redis.call('HSET', K.depres, field, kept_outcome(meta, outcome, word))
  meta.dwait = meta.dwait - 1
  if meta.state ~= 'waiting' then
    return true
  end
  -- A task of a flow whose commit it has not heard of: any failure (the commit's, or a parent
  -- of the flow cancelled because the flow never committed) cancels it, whatever its mode, so
  -- none of an uncommitted flow ever runs, not even after a redrive.
  local uncommitted = false
  if word ~= 'completed' then
    local all = dependencies(id)
    uncommitted = string.sub(all[2] or '', 1, 1) == '~' and string.match(all[3] or '', '^(%a+)') ~= 'completed'
      and all[1] .. all[2]
  end
  if word ~= 'completed' and (uncommitted or meta.dfail ~= 'run') then
    redis.call('ZREM', K.dlink, id)
    if uncommitted then
      append_history(id, meta, 'dependency', 'its flow ' .. uncommitted .. ' was never committed')
      finish(id, meta, 'cancelled')
      return true
    end
    local what = word == 'gone' and 'no longer exists' or 'ended ' .. word
    append_history(id, meta, 'dependency', 'dependency ' .. parent_queue .. '/' .. parent .. ' ' .. what)
    finish(id, meta, meta.dfail == 'cancel' and 'cancelled' or 'dead')
  elseif meta.dwait == 0 then
    redis.call('ZREM', K.dlink, id)
    place(id, meta, math.max(meta.run_at, now))
  end
  return true
end

-- Erases a purged task's links: its dependents, its parents and what it heard from them.
local function erase_links(id)
  redis.call('ZREMRANGEBYLEX', K.kids, '[' .. id .. ' ', '(' .. id .. '!')
  local all = dependencies(id)
  local fields = {}
  for i = 1, #all, 3 do
    table.insert(fields, id .. ' ' .. all[i] .. ' ' .. all[i + 1])
  end
  if #fields > 0 then
    redis.call('HDEL', K.depres, unpack(fields))
  end
  redis.call('HDEL', K.parents, id)
  redis.call('ZREM', K.dlink, id)
end
