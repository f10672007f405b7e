-- requires.lua: task requirements and worker labels (README, "Routing and diagnosis").
--
-- A task may require labels; only a worker whose labels include every one of them, with the
-- same value, leases it. Requirements and labels arrive canonical, "k=v,k=v" sorted by name
-- (the server builds the text: names and values hold no '=', ',' or space), and a task keeps
-- its requirement set in `meta.rset`.
--
-- A ready task without a group that has requirements waits in `rready` (one with a group, in
-- its group's order: prelude/groups.lua), one sorted set for all sets (score 0, members "<rset> <rank>", rank = "<1000 - priority, 4 digits><arrival, 16
-- hex>:<id>", as in `gready`), so each set's ready tasks are one range by name, best first. A
-- space sorts below every character a set holds, so ranges never mix. `rsets` counts each
-- set's live tasks (scheduled, ready or leased, with a group or not): it is what a lease reads to find the sets its
-- worker satisfies, and what caps the distinct sets of a queue (REQUIREMENT_SETS_MAX, checked
-- at submit), so a lease reads at most that many index heads whatever the queue holds. Tasks
-- without requirements stay in `ready` and cost nothing here.

-- A ready task's member in `rready`.
local function req_member(id, meta)
  return meta.rset .. ' ' .. priority_band(meta.priority) .. meta.seq .. ':' .. id
end

-- The rank (what orders the ready tasks of all sets, as `ready` orders its own) and the task id
-- of an `rready` member, or nil for one this version does not write.
local function req_member_parts(member)
  local rank = string.match(member, '^%S+ (%d%d%d%d%x+:%S+)$')
  return rank, rank and string.match(rank, ':(%S+)$')
end

-- The best ready task of set `rset`, or nil.
local function req_first(rset)
  return lex_first(K.rready, rset)
end

-- One more live task requires `rset`. With `capped` (a submit), a set the queue does not have
-- yet is refused (false) when the queue already has REQUIREMENT_SETS_MAX of them. A redrive is
-- not refused: a task that was accepted once is never turned away.
local function requires_joined(rset, capped)
  if capped and redis.call('HEXISTS', K.rsets, rset) == 0
      and redis.call('HLEN', K.rsets) >= REQUIREMENT_SETS_MAX then
    return false
  end
  redis.call('HINCRBY', K.rsets, rset, 1)
  return true
end

-- A live task that requires `rset` finished (completed, dead, cancelled or quarantined). A set
-- whose count a lost or edited key made too low stays while it still has ready tasks (without
-- a group, or a group's next task), so a lease can find them.
local function requires_left(rset)
  if redis.call('HINCRBY', K.rsets, rset, -1) <= 0 then
    if req_first(rset) or lex_first(K.rheads, rset) then
      redis.call('HSET', K.rsets, rset, 1)
    else
      redis.call('HDEL', K.rsets, rset)
    end
  end
end

-- A task that requires `rset` became ready (its index is `rready`, or its group's): a set
-- missing from `rsets` (a lost key) is put back, so a lease can find it, and only waiters
-- whose labels satisfy it are woken.
local function requires_ready(rset)
  redis.call('HSETNX', K.rsets, rset, 1)
  EVENTS.rsets[rset] = (EVENTS.rsets[rset] or 0) + 1
end

-- Whether labels (a table name -> value) include every requirement of `rset`.
local function labels_satisfy(labels, rset)
  for name, value in string.gmatch(rset, '([^=,]+)=([^,]+)') do
    if labels[name] ~= value then
      return false
    end
  end
  return true
end

-- A canonical label text as a table name -> value.
local function labels_table(text)
  local labels = {}
  for name, value in string.gmatch(text, '([^=,]+)=([^,]+)') do
    labels[name] = value
  end
  return labels
end

-- The requirement sets of this queue that `labels` (a worker's, as labels_table reads them)
-- satisfy: at most REQUIREMENT_SETS_MAX of them (and the few redrives added past it). None
-- without labels.
local function sets_satisfied(labels)
  if next(labels) == nil then
    return {}
  end
  local sets = {}
  for _, rset in ipairs(redis.call('HKEYS', K.rsets)) do
    if labels_satisfy(labels, rset) then
      table.insert(sets, rset)
    end
  end
  return sets
end
