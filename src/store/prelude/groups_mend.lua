-- groups_mend.lua: the reaper's repairs of the groups' and the requirement sets' bookkeeping
-- (prelude/groups.lua, prelude/requires.lua), each a bounded walk of one index that goes on
-- from where the last sweep stopped.

-- Walks the distinct names of the lex index `key` (members "<name> <rest>"): at most `limit`
-- of them, by name from `cursor` (the last name visited; '' for the first), each given to
-- `visit`; a member this version does not write is dropped. Returns the cursor to go on from
-- ('' when the walk is done).
local function names_walked(key, limit, cursor, visit)
  for _ = 1, limit do
    local from = cursor == '' and '-' or '(' .. cursor .. '!'
    local member = redis.call('ZRANGE', key, from, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
    if not member then
      return ''
    end
    local name = string.match(member, '^(%S+) ')
    if name then
      visit(name)
      cursor = name
    else
      redis.call('ZREM', key, member) -- not a member this version writes
    end
  end
  return cursor
end

-- Walks the members of the lex index `key`: at most `limit` of them from `cursor` (the last
-- one visited; '' for the first), each given to `visit`. Returns the cursor to go on from (''
-- when the walk is done).
local function members_walked(key, limit, cursor, visit)
  local from = cursor == '' and '-' or '(' .. cursor
  local members = redis.call('ZRANGE', key, from, '+', 'BYLEX', 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    visit(member)
  end
  return #members < limit and '' or members[#members]
end

-- Mends the groups' bookkeeping from the one index it derives from, `gready`: each group with
-- ready tasks put in place anew, so a lost `gturn`, `gheads`, `gstate`, `gwait`, `rheads` or
-- `rturn` (a `DEL`, a hand edit) costs the groups at most one sweep of the queue.
local function groups_mended(limit, cursor)
  return names_walked(K.gready, limit, cursor, function(g)
    group_sync(g, nil, nil, true)
  end)
end

-- Puts back the `rsets` entries of sets that have ready tasks, from the indexes they derive
-- from, `key` (`rready`, or `rheads` for the groups'), so a lost `rsets` costs the requirement
-- tasks at most one sweep.
local function requires_mended(key, limit, cursor)
  return names_walked(key, limit, cursor, function(rset)
    redis.call('HSETNX', K.rsets, rset, 1)
  end)
end

-- Drops the `gleased` entries whose task is no longer leased (a record quarantined while it
-- was leased: its group is not known then, and the entry would count against the group's
-- max_in_flight for good).
local function group_leases_mended(limit, cursor)
  return members_walked(K.gleased, limit, cursor, function(member)
    local g, id = string.match(member, '^(%S+) (%S+)$')
    if not (id and redis.call('ZSCORE', K.leased, id)) then
      redis.call('ZREM', K.gleased, member)
      if g then
        group_sync(g)
      end
    end
  end)
end

-- Drops the `rturn` entries no group's state points to (a lost or edited `gstate`: the group
-- was re-placed elsewhere, and the entry would stand in its set's turns for good).
local function turns_mended(limit, cursor)
  return members_walked(K.rturn, limit, cursor, function(member)
    local rset, pass, g = string.match(member, '^(%S+) (%S+) (%S+)$')
    local kind, _, state_set, state_pass = turn_parts(g and redis.call('HGET', K.gstate, g))
    if not (kind == 'u' and state_set == rset and pass_text(state_pass) == pass) then
      redis.call('ZREM', K.rturn, member)
    end
  end)
end

-- Drops the `rheads` entries no group's state points to, as `turns_mended` does `rturn`'s.
local function heads_mended(limit, cursor)
  return members_walked(K.rheads, limit, cursor, function(member)
    local rset, band, head = string.match(member, '^(%S+) (%d%d%d%d)(%S+ %S+)$')
    local g = head and string.match(head, ' (%S+)$')
    local kind, state_head, state_set, _, state_band = turn_parts(g and redis.call('HGET', K.gstate, g))
    if not (kind == 'u' and state_head == head and state_set == rset and state_band == band) then
      redis.call('ZREM', K.rheads, member)
    end
  end)
end
