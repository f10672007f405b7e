-- choice.lua: what a lease call may take next, for a worker with the labels it brought: the
-- best ready task without a group, the best group head, and the group whose turn it is, each
-- read from the index that has no requirements and from the indexes of the requirement sets
-- the worker's labels satisfy, and no other (prelude/requires.lua, prelude/groups.lua).
--
-- `heads` is the worker's view of `rready`: each requirement set its labels satisfy -> that
-- set's best ready task (false when none), read once per call (`worker_sets`), then again only
-- for a set a task was taken from. A worker without labels has none, and reads what it read
-- before requirements existed.

-- The requirement sets `labels` (canonical text) satisfy, each with its best ready task.
local function worker_sets(labels)
  local heads = {}
  for _, rset in ipairs(sets_satisfied(labels)) do
    heads[rset] = req_first(rset) or false
  end
  return heads
end

-- Whether a set in `heads` has a ready task without a group.
local function sets_ready(heads)
  for _, head in pairs(heads) do
    if head then
      return true
    end
  end
  return false
end

-- The best ready task without a group the worker may take: `ready`'s first, or the first of
-- a set it satisfies, whichever ranks first (priority, then arrival). Returns its member, its
-- rank and its set (nil for `ready`), or nil.
local function best_plain(heads)
  local plain = redis.call('ZRANGE', K.ready, 0, 0, 'WITHSCORES')
  local best, rank, best_set = plain[1], nil, nil
  if best then
    rank = string.format('%04d', 1000 + tonumber(plain[2])) .. best
  end
  for rset in pairs(heads) do
    local head = heads[rset]
    local head_rank = head and req_member_parts(head)
    -- Members this version does not write are dropped as they are met (a few per call).
    for _ = 1, INLINE_SETTLE_MAX do
      if not head or head_rank then
        break
      end
      redis.call('ZREM', K.rready, head)
      head = req_first(rset)
      head_rank = head and req_member_parts(head)
    end
    heads[rset] = head_rank and head or false
    if head_rank and (not rank or head_rank < rank) then
      best, rank, best_set = head, head_rank, rset
    end
  end
  return best, rank, best_set
end

-- Whether groups whose next task requires labels the worker has may be in the turns.
local function labelled_turns(heads)
  return next(heads) ~= nil and redis.call('EXISTS', K.rturn) == 1
end

-- The first member of set `rset`'s range in the lex index `key`, or nil.
local function set_first(key, rset)
  return redis.call('ZRANGE', key, '[' .. rset .. ' ', '(' .. rset .. '!', 'BYLEX', 'LIMIT', 0, 1)[1]
end

-- The best group head the worker may take: `gheads`' first, or the first in `rheads` of a set
-- it satisfies, whichever ranks first (priority, then arrival). Returns its rank, head, score,
-- set ('' for `gheads`) and `rheads` entry, or nil.
local function best_head(heads)
  local first = redis.call('ZRANGE', K.gheads, 0, 0, 'WITHSCORES')
  local rank, head, score, rset, entry = nil, first[1], tonumber(first[2]), '', nil
  if head then
    rank = string.format('%04d', 1000 + score) .. head
  end
  if not labelled_turns(heads) then
    return rank, head, score, rset, entry
  end
  for set in pairs(heads) do
    local e = set_first(K.rheads, set)
    local band, h = nil, nil
    if e then
      band, h = string.match(e, '^%S+ (%d%d%d%d)(%S+ %S+)$')
    end
    if h and (not rank or band .. h < rank) then
      rank, head, score, rset, entry = band .. h, h, tonumber(band) - 1000, set, e
    elseif e and not h then
      redis.call('ZREM', K.rheads, e) -- not a member this version writes
    end
  end
  return rank, head, score, rset, entry
end

-- The group whose turn it is for the worker: `gturn`'s first, or the first in `rturn` of a set
-- it satisfies, whichever pass is lowest. Returns the group, its pass, its set ('' for
-- `gturn`) and its `rturn` entry's pass text, or nil.
local function next_turn(heads)
  local first = redis.call('ZRANGE', K.gturn, 0, 0, 'WITHSCORES')
  local g, pass, rset, text = first[1], tonumber(first[2]), '', nil
  if not labelled_turns(heads) then
    return g, pass, rset, text
  end
  for set in pairs(heads) do
    local e = set_first(K.rturn, set)
    local p, name = nil, nil
    if e then
      p, name = string.match(e, '^%S+ (%S+) (%S+)$')
    end
    if tonumber(p) and (not pass or tonumber(p) < pass) then
      g, pass, rset, text = name, tonumber(p), set, p
    elseif e and not tonumber(p) then
      redis.call('ZREM', K.rturn, e) -- not a member this version writes
    end
  end
  return g, pass, rset, text
end
