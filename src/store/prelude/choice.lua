-- choice.lua: what a lease call may take next, for a worker with the labels it brought: the
-- best ready task without a group, the best group head, and the group whose turn it is, each
-- read from the index that has no requirements and from the indexes of the requirement sets
-- the worker's labels satisfy, and no other (prelude/requires.lua, prelude/groups.lua).
--
-- `view` is what the worker may read, made once per lease call (`worker_view`): `labels`, its
-- labels as a table; `sets`, the requirement sets they satisfy; `ready`, each one's best ready task without a group
-- (false when none), read again only for a set a task was taken from; and `heads` and `turns`,
-- each one's first `rheads` and `rturn` entry, read when first needed and again only when a
-- change in this script call touched that set's range (TURNS_TOUCHED, prelude/groups.lua). So
-- a lease step reads the sets it has not read yet or that changed, not every set each time. A
-- worker without labels has no set, and reads what it read before requirements existed.

-- The view of a worker with `labels` (canonical text).
local function worker_view(labels)
  local parsed = labels_table(labels)
  local view = { labels = parsed, sets = sets_satisfied(parsed), ready = {}, heads = {}, turns = {} }
  for _, rset in ipairs(view.sets) do
    view.ready[rset] = req_first(rset) or false
  end
  return view
end

-- Whether a set of the view has a ready task without a group.
local function sets_ready(view)
  for _, head in pairs(view.ready) do
    if head then
      return true
    end
  end
  return false
end

-- The best ready task without a group the worker may take: `ready`'s first, or the first of
-- a set it satisfies, whichever ranks first (priority, then arrival). Returns its member, its
-- rank and its set (nil for `ready`), or nil.
local function best_plain(view)
  local plain = redis.call('ZRANGE', K.ready, 0, 0, 'WITHSCORES')
  local best, rank, best_set = plain[1], nil, nil
  if best then
    rank = priority_band(-tonumber(plain[2])) .. best
  end
  local heads = view.ready
  for _, rset in ipairs(view.sets) do
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
local function labelled_turns(view)
  return #view.sets > 0 and redis.call('EXISTS', K.rturn) == 1
end

-- The first member of set `rset`'s range in the lex index `key` (`rheads` or `rturn`, whose
-- kept entries are `cache`, and changes `touched`), or nil.
local function set_first(key, cache, touched, rset)
  if cache[rset] == nil or touched[rset] then
    touched[rset] = nil
    cache[rset] = lex_first(key, rset) or false
  end
  return cache[rset] or nil
end

-- The best group head the worker may take: `gheads`' first, or the first in `rheads` of a set
-- it satisfies, whichever ranks first (priority, then arrival). Returns its rank, head, score,
-- set ('' for `gheads`) and `rheads` entry, or nil.
local function best_head(view)
  local first = redis.call('ZRANGE', K.gheads, 0, 0, 'WITHSCORES')
  local rank, head, score, rset, entry = nil, first[1], tonumber(first[2]), '', nil
  if head then
    rank = priority_band(-score) .. head
  end
  if not labelled_turns(view) then
    return rank, head, score, rset, entry
  end
  for _, set in ipairs(view.sets) do
    local e = set_first(K.rheads, view.heads, TURNS_TOUCHED.heads, set)
    local band, h = nil, nil
    if e then
      band, h = string.match(e, '^%S+ (%d%d%d%d)(%S+ %S+)$')
    end
    if h and (not rank or band .. h < rank) then
      rank, head, score, rset, entry = band .. h, h, tonumber(band) - 1000, set, e
    elseif e and not h then
      redis.call('ZREM', K.rheads, e) -- not a member this version writes
      view.heads[set] = nil
    end
  end
  return rank, head, score, rset, entry
end

-- The group whose turn it is for the worker: `gturn`'s first, or the first in `rturn` of a set
-- it satisfies, whichever pass is lowest. Returns the group, its pass, its set ('' for
-- `gturn`) and its `rturn` entry's pass text, or nil.
local function next_turn(view)
  local first = redis.call('ZRANGE', K.gturn, 0, 0, 'WITHSCORES')
  local g, pass, rset, text = first[1], tonumber(first[2]), '', nil
  if not labelled_turns(view) then
    return g, pass, rset, text
  end
  for _, set in ipairs(view.sets) do
    local e = set_first(K.rturn, view.turns, TURNS_TOUCHED.turns, set)
    local p, name = nil, nil
    if e then
      p, name = string.match(e, '^%S+ (%S+) (%S+)$')
    end
    if tonumber(p) and (not pass or tonumber(p) < pass) then
      g, pass, rset, text = name, tonumber(p), set, p
    elseif e and not tonumber(p) then
      redis.call('ZREM', K.rturn, e) -- not a member this version writes
      view.turns[set] = nil
    end
  end
  return g, pass, rset, text
end
