-- groups_mend.lua: the reaper's repairs of the groups' bookkeeping (prelude/groups.lua), each
-- a bounded walk that goes on from where the last sweep stopped.

-- Mends the groups' bookkeeping from the one index it derives from, `gready`: at most `limit`
-- groups with ready tasks, walked by name from `cursor` (where the last call stopped; '' for
-- the first), each put in place anew, so a lost `gturn`, `gheads`, `gstate` or `gwait` (a
-- `DEL`, a hand edit) costs the groups at most one sweep of the queue. The reaper calls it;
-- returns the cursor to go on from ('' when the walk is done).
local function groups_mended(limit, cursor)
  for _ = 1, limit do
    local from = cursor == '' and '-' or '(' .. cursor .. '!'
    local member = redis.call('ZRANGE', K.gready, from, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
    if not member then
      return ''
    end
    local g = string.match(member, '^(%S+) ')
    if g then
      group_sync(g, nil, nil, true)
      cursor = g
    else
      redis.call('ZREM', K.gready, member) -- not a member this version writes
    end
  end
  return cursor
end

-- Drops the `gleased` entries whose task is no longer leased (a record quarantined while it
-- was leased: its group is not known then, and the entry would count against the group's
-- max_in_flight for good), looking at most `limit` entries from `cursor` (the last one looked
-- at; '' for the first). The reaper calls it; returns the cursor to go on from ('' when done).
local function group_leases_mended(limit, cursor)
  local from = cursor == '' and '-' or '(' .. cursor
  local members = redis.call('ZRANGE', K.gleased, from, '+', 'BYLEX', 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    local g, id = string.match(member, '^(%S+) (%S+)$')
    if not (id and redis.call('ZSCORE', K.leased, id)) then
      redis.call('ZREM', K.gleased, member)
      if g then
        group_sync(g)
      end
    end
  end
  return #members < limit and '' or members[#members]
end

-- Drops the `rturn` entries no group's state points to (a lost or edited `gstate`: the group
-- was re-placed elsewhere, and the entry would stand in its set's turns for good), looking at
-- most `limit` entries from `cursor` (the last one looked at; '' for the first). The reaper
-- calls it; returns the cursor to go on from ('' when done).
local function turns_mended(limit, cursor)
  local from = cursor == '' and '-' or '(' .. cursor
  local members = redis.call('ZRANGE', K.rturn, from, '+', 'BYLEX', 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    local rset, pass, g = string.match(member, '^(%S+) (%S+) (%S+)$')
    local kind, _, state_set, state_pass = turn_parts(g and redis.call('HGET', K.gstate, g))
    if not (kind == 'u' and state_set == rset and pass_text(state_pass) == pass) then
      redis.call('ZREM', K.rturn, member)
    end
  end
  return #members < limit and '' or members[#members]
end

-- Drops the `rheads` entries no group's state points to, as `turns_mended` does `rturn`'s.
local function heads_mended(limit, cursor)
  local from = cursor == '' and '-' or '(' .. cursor
  local members = redis.call('ZRANGE', K.rheads, from, '+', 'BYLEX', 'LIMIT', 0, limit)
  for _, member in ipairs(members) do
    local rset, band, head = string.match(member, '^(%S+) (%d%d%d%d)(%S+ %S+)$')
    local g = head and string.match(head, ' (%S+)$')
    local kind, state_head, state_set, _, state_band = turn_parts(g and redis.call('HGET', K.gstate, g))
    if not (kind == 'u' and state_head == head and state_set == rset and state_band == band) then
      redis.call('ZREM', K.rheads, member)
    end
  end
  return #members < limit and '' or members[#members]
end
