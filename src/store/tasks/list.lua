-- list.lua: one page of the queue's tasks in one state, in that state's own order: ready
-- tasks without a group in priority then arrival order, then those with a group by group
-- name, each group in its own order (`gready`, prelude/groups.lua), then those with
-- requirements by requirement set (`rready`, prelude/requires.lua); scheduled by run time, leased by lease deadline, and
-- completed, dead and cancelled by when they will be purged, waiting by when their parents are
-- next checked. Writes nothing.
-- arg: 1 the state's set's role (ready, scheduled, leased, completed, dead, cancelled; dlink for waiting),
-- 2 limit, 3 after: the score of the previous page's last member or '', 4 that member
-- Returns reply('ok', { task, ... }, { score, member } of the last member looked at, or false
-- when this is the last page). A page also stops at LEASE_REPLY_BYTES_MAX of task data.
--
-- A cursor is a position in the set's order, (score, member), not a score alone: many members
-- share a score (ready tasks of one priority, tasks scheduled for one instant, tasks finished
-- in one script), and Redis orders those byte by byte by member.

local role, limit, after_score, after_member = arg(1), tonumber(arg(2)), arg(3), arg(4)
local set = K[role]
-- A ready task with a group is a `gready` member "<group> <rank>:<id>", one with requirements
-- an `rready` member "<k=v,...> <rank>:<id>": the only members with a space, and only the
-- second kind has a '=' before it.
local function grouped(member)
  return string.find(member, ' ', 1, true) ~= nil
end
if role == 'ready' and after_score ~= '' and grouped(after_member) then
  set = string.match(after_member, '^[^ ]*=') and K.rready or K.gready
end

-- True when member `a` sorts before `b` in Redis's order for equal scores (memcmp). Lua's own
-- `<` on strings follows the server's collation locale, so bytes are compared one by one.
local function sorts_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- The rank of the first member after the cursor's position.
local function start_rank()
  if after_score == '' then
    return 0
  end
  local rank = redis.call('ZRANK', set, after_member)
  if rank and tonumber(redis.call('ZSCORE', set, after_member)) == tonumber(after_score) then
    return rank + 1
  end
  -- The cursor's member has left the set (leased, finished, purged) or moved: the position is
  -- still well defined. Members of a lower score come before it; among those of its score,
  -- the ones that sort before its member do too (a binary search over ranks, O(log n) reads).
  local lo = redis.call('ZCOUNT', set, '-inf', '(' .. after_score)
  local hi = redis.call('ZCOUNT', set, '-inf', after_score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if sorts_before(redis.call('ZRANGE', set, mid, mid)[1], after_member) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

local tasks, bytes, looked, last = {}, 0, 0, nil
-- Reads the page from `set` at rank `start`; true when members are left after it.
local function read_page(start)
  -- One member more than the page holds, to know whether another page follows.
  local members = redis.call('ZRANGE', set, start, start + limit - looked, 'WITHSCORES')
  local seen = 0
  for n = 1, #members, 2 do
    if looked >= limit or bytes >= LEASE_REPLY_BYTES_MAX then
      break
    end
    local member, score = members[n], members[n + 1]
    looked, last, seen = looked + 1, { score, member }, seen + 1
    local id = grouped(member) and string.match(member, '^%S+ %d%d%d%d%x+:(%S+)') or member_id(member)
    local raw = redis.call('HGET', K.meta, id)
    local ok, meta = pcall(cjson.decode, raw or '')
    if ok and type(meta) == 'table' then
      local task, size = task_reply(id, meta, raw)
      table.insert(tasks, task)
      bytes = bytes + size
    end
  end
  return seen < #members / 2
end
local more = read_page(start_rank())
-- Ready tasks go on from `ready` to `gready` to `rready`.
local after = { [K.ready] = K.gready, [K.gready] = K.rready }
while role == 'ready' and not more and after[set] do
  if looked >= limit or bytes >= LEASE_REPLY_BYTES_MAX then
    more = redis.call('EXISTS', after[set]) == 1
      or (after[after[set]] ~= nil and redis.call('EXISTS', after[after[set]]) == 1)
    break
  end
  set = after[set]
  more = read_page(0)
end
return reply('ok', tasks, more and last or false)
