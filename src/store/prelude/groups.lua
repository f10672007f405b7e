-- groups.lua: task groups, their limits and their turns (README, "Distribution strategies").
--
-- A task that names a group is ready in `gready`, one sorted set for all groups (score 0,
-- members "<group> <rank>", rank = "<1000 - priority, 4 digits><arrival, 16 hex>:<id>"), so a
-- group's tasks are one range by name (ZRANGE BYLEX), in priority then arrival order. Names
-- hold no space and a space sorts below every allowed character, so ranges never mix. A task
-- keeps its group arrival number (`gseq`) for life: a retried task goes back to its place,
-- which is what keeps an ordered group in submit order.
--
-- A group with ready tasks is either in the turns or held:
--   in the turns: its next task is in `gheads` (score -priority, member "<gseq>:<id> <group>",
--     so the `priority` strategy takes the best head of all groups, oldest first among
--     equals), the group is in `gturn` (score: its pass, for the `fair` strategy's weighted
--     turns) and `gstate` says "t <gheads member>"; when that next task requires labels,
--     its group is in `rheads` and `rturn` instead, by requirement set (below), and `gstate`
--     says "u <set> <pass> <band><gheads member>";
--   held (paused, at max_in_flight, out of rate tokens, or an ordered group whose task is
--     out): in neither, `gstate` says "h <pass>" (its pass when it left the turns, so it goes
--     back to the same place in them and does not win the next turn on a tie), and a group
--     out of tokens waits in `gwait` (score: when it has one again). A lease never looks at a
--     held group: a group at its limit with 100,000 ready tasks costs the others nothing.
-- `group_sync` puts a group where it belongs; every change that can move it calls it, so each
-- costs a few commands whatever the groups hold. A group with nothing ready leaves no entry
-- in these sets; `gleased` (its leases out, one lex member "<group> <id>" each, so an entry a
-- quarantined record left behind can be found and dropped), `grate` (rate limits, below),
-- `ghold` (an ordered group's task that is out) and `glive`/`gnames` (the groups listed) hold
-- only groups that have something there.
--
-- Requirements (prelude/requires.lua): a task's `gready` member ends with its requirement set,
-- and a group goes in the turns by its next task's. Within a group tasks keep the group's
-- order: a worker that cannot take a group's next task passes the group by, and the group's
-- later tasks wait behind it. A group whose next task requires labels is kept apart, in
-- `rheads` (lex members "<set> <band><gseq>:<id> <group>", band = 1000 - priority) and `rturn`
-- (lex members "<set> <pass, fixed width> <group>"), so each set's best head and lowest pass
-- are the first of its range: a lease reads the sets its worker satisfies and no other, and a
-- worker without labels reads `gheads` and `gturn` as before.
--
-- Each group's limits are `group_conf` (prelude/groups_conf.lua).

-- A ready grouped task's member in `gready`; one that requires labels ends with its
-- requirement set (prelude/requires.lua), so its group's next task says what it needs.
local function group_member(id, meta)
  local member = meta.group .. ' ' .. priority_band(meta.priority) .. meta.gseq .. ':' .. id
  if type(meta.rset) == 'string' then
    return member .. ' ' .. meta.rset
  end
  return member
end

-- The `gheads` member, score and requirement set ('' for none) of a `gready` member (nil for
-- one this version does not write).
local function group_head(member)
  local g, pri, rest, rset = string.match(member, '^(%S+) (%d%d%d%d)(%x+:%S+) ?(%S*)$')
  if not rest then
    return nil
  end
  return rest .. ' ' .. g, tonumber(pri) - 1000, rset
end

-- The requirement sets whose `rheads` / `rturn` ranges this script call changed, so a lease
-- re-reads only those of the first entries it keeps per set (prelude/choice.lua).
local TURNS_TOUCHED
on_each_call(function()
  TURNS_TOUCHED = { heads = {}, turns = {} }
end)

-- Notes that set `rset`'s ranges changed.
local function turns_touched(rset)
  TURNS_TOUCHED.heads[rset] = true
  TURNS_TOUCHED.turns[rset] = true
end

-- A pass as `rturn` orders it: fixed-width text, so lex order is numeric order.
local function pass_text(pass)
  return string.format('%020.4f', pass)
end

-- Where a group in the turns stands, from its `gstate`: 't' (its next task requires nothing:
-- `gheads`, `gturn`) with its head, or 'u' (it requires `rset`: `rheads`, `rturn`) with its
-- head, set, pass and priority band; nil when it is not in the turns.
local function turn_parts(state)
  local kind = state and string.sub(state, 1, 2)
  if kind == 't ' then
    return 't', string.sub(state, 3)
  elseif kind == 'u ' then
    local rset, pass, band, head = string.match(state, '^u (%S+) (%S+) (%d%d%d%d)(%S+ %S+)$')
    if head and tonumber(pass) then
      return 'u', head, rset, tonumber(pass), band
    end
  end
  return nil
end

-- Takes group g out of the turns (whatever its state says, and any `gturn` entry left
-- behind); returns the pass it had there, or nil when none is known.
local function turn_leave(g, state)
  local kind, head, rset, pass, band = turn_parts(state)
  if kind == 'u' then
    redis.call('ZREM', K.rheads, rset .. ' ' .. band .. head)
    redis.call('ZREM', K.rturn, rset .. ' ' .. pass_text(pass) .. ' ' .. g)
    turns_touched(rset)
  elseif kind == 't' then
    redis.call('ZREM', K.gheads, head)
  end
  local plain_pass = redis.call('ZSCORE', K.gturn, g)
  if plain_pass then
    redis.call('ZREM', K.gturn, g)
  end
  return pass or tonumber(plain_pass)
end

-- Puts group g in the turns with its next task `head` (score -priority, requirement set
-- `rset`) at `pass`: a task that requires nothing in `gheads` and `gturn`, one that requires
-- labels in `rheads` and `rturn`, each ranged by set (lex members "<rset> <rank> <group>"), so a
-- lease reads only the sets its worker satisfies.
local function turn_join(g, head, score, rset, pass)
  if rset == '' then
    redis.call('ZADD', K.gheads, score, head)
    redis.call('ZADD', K.gturn, pass, g)
    redis.call('HSET', K.gstate, g, 't ' .. head)
    return
  end
  local band = priority_band(-score)
  redis.call('HSETNX', K.rsets, rset, 1) -- a set lost from `rsets` is found again
  redis.call('ZADD', K.rheads, 0, rset .. ' ' .. band .. head)
  redis.call('ZADD', K.rturn, 0, rset .. ' ' .. pass_text(pass) .. ' ' .. g)
  redis.call('HSET', K.gstate, g, 'u ' .. rset .. ' ' .. pass_text(pass) .. ' ' .. band .. head)
  turns_touched(rset)
end

-- Moves group g (in the turns, its state `state`) to `pass`.
local function turn_repass(g, state, pass)
  local kind, head, rset, _, band = turn_parts(state)
  if kind == 'u' then
    turn_leave(g, state)
    turn_join(g, head, tonumber(band) - 1000, rset, pass)
  elseif kind == 't' then
    redis.call('ZADD', K.gturn, 'XX', pass, g)
  end
end

-- The task id and group of a `gheads` member.
local function group_head_parts(head)
  return string.match(head, '^%x+:(%S+) (%S+)$')
end

-- The group's first ready task's member, or nil.
local function group_first(g)
  return lex_first(K.gready, g)
end

-- A group's rate limit is a token bucket kept as one number (GCRA): its `grate` score is when
-- its bucket will be full again, and each lease moves it on by one interval (1000 / rate ms).
-- A lease is allowed while that is at most burst - 1 intervals ahead, so a group gets at most
-- burst + rate x elapsed leases. A score in the past is a full bucket: the reaper drops it.
-- Returns nil when the group may lease now, else when it may (ms).
local function group_rate_wait(g, conf)
  if not conf.rate then
    return nil
  end
  local full_at = tonumber(redis.call('ZSCORE', K.grate, g))
  if not full_at then
    return nil
  end
  local allowed_at = full_at - (conf.burst - 1) * 1000 / conf.rate
  if allowed_at <= now then
    return nil
  end
  return math.ceil(allowed_at)
end

-- An ordered group's task that is out (leased, or waiting to be retried), if any: the group
-- hands out nothing else until it completes, dies or is cancelled. Returns its id and whether
-- it is ready again (then it is the group's next task). A holder whose record is gone or
-- finished no longer holds. `known_meta` is task `known_id`'s metadata, changed in this call
-- and not saved yet.
local function group_holder(g, known_id, known_meta)
  local holder = redis.call('HGET', K.ghold, g)
  if not holder then
    return nil
  end
  local meta = holder == known_id and known_meta or load_task(holder)
  if meta and meta.group == g and (meta.state == 'leased' or meta.state == 'scheduled'
      or meta.state == 'ready') then
    return holder, meta.state == 'ready' and meta or nil
  end
  redis.call('HDEL', K.ghold, g)
  return nil
end

-- Why group g can hand out nothing now ('paused', 'busy', 'ordered', or 'rate' and when it
-- can), or nil and the member of the task it hands out next (nil when it has none ready).
local function group_hold(g, conf, known_id, known_meta)
  if conf.paused then
    return 'paused'
  end
  if conf.max_in_flight and group_in_flight(g) >= conf.max_in_flight then
    return 'busy'
  end
  local next_member = nil
  if conf.ordered then
    local holder, ready_meta = group_holder(g, known_id, known_meta)
    if holder and not ready_meta then
      return 'ordered'
    end
    next_member = ready_meta and group_member(holder, ready_meta)
  end
  local rate_wait = group_rate_wait(g, conf)
  if rate_wait then
    return 'rate', rate_wait
  end
  return nil, next_member or group_first(g)
end

-- The fair strategy's clock: the pass of the last group served. A group that joins the turns
-- starts at it, so it cannot bank turns while it was idle or held.
local function fair_clock()
  return tonumber(redis.call('HGET', K.stats, 'fair_clock')) or 0
end

-- The pass a held group left the turns with (its `gstate` "h <pass>"), or nil.
local function held_pass(state)
  return state and tonumber(string.match(state, '^h (%S+)$'))
end

-- Puts group g where it belongs now: in the turns with its next task, held, or nowhere.
-- (`known_id`, `known_meta`: a task of the group changed in this call and not saved yet.)
-- `force` re-asserts every entry even when the group's state says it is in place, to mend
-- what a lost or hand-edited key left wrong (`groups_mended`).
local function group_sync(g, known_id, known_meta, force)
  local state = redis.call('HGET', K.gstate, g)
  local hold, at_or_next = group_hold(g, group_conf(g), known_id, known_meta)
  local kind, in_head = turn_parts(state)
  local in_turns = kind ~= nil
  local has_ready = at_or_next ~= nil
  if hold then
    has_ready = group_first(g) ~= nil
  end
  if not has_ready or hold then
    local pass = nil
    if in_turns or force then
      pass = turn_leave(g, state)
    end
    if not has_ready then
      -- Idle: its pass is forgotten, so it cannot bank turns while it has nothing to do.
      if state then
        redis.call('HDEL', K.gstate, g)
      end
      redis.call('ZREM', K.gwait, g)
      return
    end
    local held = 'h ' .. (pass or held_pass(state) or fair_clock())
    if state ~= held then
      redis.call('HSET', K.gstate, g, held)
    end
    if hold == 'rate' then
      redis.call('ZADD', K.gwait, at_or_next, g)
    end
    return
  end
  local head, score, rset = group_head(at_or_next)
  if not head then
    redis.call('ZREM', K.gready, at_or_next) -- not a member this version writes
    return group_sync(g, known_id, known_meta, force)
  end
  if in_head == head and not force then
    return
  end
  if kind == 't' and rset == '' and not force then
    -- The common move: a new head that requires nothing, in place of one that required
    -- nothing. Its pass stays where it is.
    redis.call('ZREM', K.gheads, in_head)
    redis.call('ZADD', K.gheads, score, head)
    redis.call('HSET', K.gstate, g, 't ' .. head)
    return
  end
  local pass = nil
  if in_turns or force then
    pass = turn_leave(g, state)
  end
  if not (in_turns and pass) then
    -- A group that comes back from being held takes up its own pass again, unless the clock
    -- has gone past it (a held group banks no turns either); one that joins from idle starts
    -- at the clock. A group still in the turns keeps its pass.
    pass = math.max(held_pass(state) or 0, fair_clock())
  end
  if not in_turns or force then
    redis.call('ZREM', K.gwait, g)
  end
  turn_join(g, head, score, rset, pass)
  if rset ~= '' then
    -- Its next task needs labels: the waiting workers that have them are woken, not the
    -- first in line (who may not).
    EVENTS.rsets[rset] = (EVENTS.rsets[rset] or 0) + 1
  end
end

-- A task joined group g (submitted, or redriven from dead): the group is listed while it has
-- live tasks (ready, scheduled or leased: `glive`) or overrides (`gconf`), in `gnames`.
local function group_joined(g)
  if redis.call('HINCRBY', K.glive, g, 1) == 1 then
    redis.call('ZADD', K.gnames, 0, g)
  end
end

-- A grouped task became ready.
local function group_add(id, meta)
  meta.gseq = meta.gseq or meta.seq
  redis.call('ZADD', K.gready, 0, group_member(id, meta))
  group_sync(meta.group, id, meta)
end

-- A grouped ready task left the ready set: it is being leased (which syncs its group), or
-- cancelled or deleted (`sync`).
local function group_remove(id, meta, sync)
  redis.call('ZREM', K.gready, group_member(id, meta))
  if sync then
    group_sync(meta.group, id, meta)
  end
end

-- A grouped task was leased: it counts against its group's limits.
local function group_leased(id, meta)
  local g = meta.group
  local conf = group_conf(g)
  redis.call('ZADD', K.gleased, 0, g .. ' ' .. id)
  if conf.rate then
    local full_at = math.max(now, tonumber(redis.call('ZSCORE', K.grate, g)) or now)
    redis.call('ZADD', K.grate, full_at + 1000 / conf.rate, g)
  end
  if conf.ordered then
    redis.call('HSET', K.ghold, g, id)
  end
  group_sync(g, id, meta)
end

-- A grouped task's lease ended (acked, failed, expired, cancelled).
local function group_released(id, meta)
  redis.call('ZREM', K.gleased, meta.group .. ' ' .. id)
  group_sync(meta.group, id, meta)
end

-- A grouped task finished (completed, dead, cancelled): an ordered group it held goes on, and
-- a group left with no live task and no override is listed no more.
local function group_finished(id, meta)
  local g = meta.group
  if redis.call('HINCRBY', K.glive, g, -1) <= 0 then
    redis.call('HDEL', K.glive, g)
    if redis.call('HEXISTS', K.gconf, g) == 0 then
      redis.call('ZREM', K.gnames, g)
    end
  end
  if redis.call('HGET', K.ghold, g) == id then
    redis.call('HDEL', K.ghold, g)
    group_sync(g, id, meta)
  end
end

-- Groups whose rate tokens are back take their turns again (at most `limit` of them).
local function groups_refilled(limit)
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', K.gwait, '-inf', now, 'LIMIT', 0, limit)) do
    redis.call('ZREM', K.gwait, g)
    group_sync(g)
  end
end

-- A grouped task whose payload, result or history the server found unreadable is quarantined
-- (quarantine.lua) while its metadata, `meta`, is still readable: a live task leaves its
-- group as a finished one does, so its group is neither held by it nor listed for it.
local function group_quarantined(id, meta)
  local g = meta.group
  local live = meta.state == 'ready' or meta.state == 'scheduled' or meta.state == 'leased'
    or meta.state == 'waiting'
  if meta.state == 'ready' and type(meta.gseq) == 'string' and tonumber(meta.priority) then
    redis.call('ZREM', K.gready, group_member(id, meta))
  end
  redis.call('ZREM', K.gleased, g .. ' ' .. id)
  if live then
    group_finished(id, meta)
  end
  group_sync(g)
end
