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
