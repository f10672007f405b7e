-- lease.lua: leases up to max_tasks ready tasks by the queue's strategy: `priority` (highest
-- priority first, FIFO among equals) or `fair` (task groups take weighted turns; see
-- prelude/groups.lua), within the queue's limits and each group's. It first settles a bounded
-- number of this queue's expired leases, due scheduled tasks and passed start deadlines, so
-- delivery never waits for the reaper's next sweep.
--
-- Retry-safe leasing: a call with a request_id remembers which leases it granted until the
-- longest of them would expire. Repeating the call with the same request_id returns those of
-- its leases that are still live and leases nothing new, so a reply lost on the way back
-- strands no task and burns no attempt. The record is written only by a call that found none
-- (the check and the write are this one atomic step), so it is never replaced; and writing it
-- publishes the request id, so calls with the same id that are waiting at that moment (a
-- client that retried while its first long poll was still waiting) answer the same leases at
-- once instead of at their next re-check.
--
-- A worker with labels is also given the ready tasks whose requirements its labels satisfy
-- (prelude/requires.lua): each such set's best task competes with `ready`'s by priority, then
-- arrival, and under `fair` they are all the tasks without a group.
--
-- arg: 1 worker name or '', 2 lease_ms or '' (task's, else policy's), 3 max_tasks,
--      4 request_id or '', 5 the worker's labels ("k=v,k=v") or '',
--      6.. one fresh lease id per task that may be handed out
-- Returns reply(status, { task, ... }, retry_after_ms or false), status one of 'ok',
-- 'replayed' (the leases of an earlier call with this request_id), 'paused' (the queue is
-- paused), 'limited' (its max_in_flight or rate limit allows nothing now: retry after
-- retry_after_ms; 0 when its bounded work ended, on tasks past their start deadline, before it
-- found one to hand out: ask again at once) or 'again' (calls before it in the same script
-- call handed out the task bytes one script call may: the server sends it again, alone).
-- Each task's meta carries its lease_id and leased_until. An 'ok' that leased nothing adds 1
-- when ready tasks with requirements wait that this worker may not take (so its instance
-- does not remember the queue as empty for other workers).

local worker, requested_ms, max_tasks, request_id = arg(1), tonumber(arg(2)), tonumber(arg(3)), arg(4)
local labels = arg(5)
-- max_tasks 0 only looks up request_id (a multi-queue lease's retry checks each queue first).

-- The live leases recorded for a request: "<id> <lease id> <id> <lease id> ...".
local function live_leases(recorded)
  local tasks = {}
  for id, lease_id in string.gmatch(recorded, '(%S+) (%S+)') do
    local meta = load_task(id)
    if meta and not settle(id, meta) and meta.state == 'leased' and meta.lease_id == lease_id then
      table.insert(tasks, (task_reply(id, meta, cjson.encode(meta))))
    end
  end
  return tasks
end

if request_id ~= '' then
  local recorded = redis.call('HGET', K.requests, request_id)
  if recorded then
    return reply('replayed', live_leases(recorded), false)
  end
end
if max_tasks == 0 then
  return reply('ok', {}, false)
end
local recorded = worker_seen(worker, labels)

-- Once per script call: the calls that travel with this one run at the same `now`.
if not SHARED.settled then
  SHARED.settled = true
  reclaim_expired(INLINE_SETTLE_MAX)
  promote_due(INLINE_SETTLE_MAX)
  expire_unstarted_due(INLINE_SETTLE_MAX)
  groups_refilled(INLINE_SETTLE_MAX)
  -- When a worker last asked (explain's `no_workers`), to the second: written at most once a
  -- second, and never for a queue that does not exist (a mistyped name makes no key).
  local seen = tonumber(redis.call('HGET', K.stats, 'lease_seen'))
  if (seen and now - seen >= 1000) or (not seen and redis.call('EXISTS', K.stats) == 1) then
    redis.call('HSET', K.stats, 'lease_seen', now)
  end
end

-- The queue's limits, in this same atomic step, so no number of instances and workers racing
-- can exceed them.
if POLICY.paused == 1 then
  return reply('paused', {}, false)
end
-- The calls before this one in the same script call handed out all the task bytes one script
-- call may: this one goes again, in a script call of its own.
if SHARED.lease_bytes >= LEASE_REPLY_BYTES_MAX then
  return reply('again', {}, false)
end
local wanted = max_tasks
local cap = POLICY.max_in_flight
if cap then
  local in_flight = redis.call('ZCARD', K.leased)
  if in_flight >= cap then
    -- A slot frees when a lease ends: by the first deadline at the latest.
    local first = redis.call('ZRANGE', K.leased, 0, 0, 'WITHSCORES')
    local until_first = first[2] and (tonumber(first[2]) - now) or 1000
    return reply('limited', {}, math.max(1, math.min(1000, until_first)))
  end
  wanted = math.min(wanted, cap - in_flight)
end
-- Rate limit: a token bucket in the queue's stats, refilled by the Redis clock and shared by
-- every instance; each lease granted takes one token.
local rate, tokens = POLICY['rate_limit.per_second'], nil
if rate then
  local burst = POLICY['rate_limit.burst'] or math.max(1, math.ceil(rate))
  local bucket = redis.call('HMGET', K.stats, 'rate_tokens', 'rate_at')
  local last = tonumber(bucket[2]) or now
  tokens = math.min(burst, (tonumber(bucket[1]) or burst) + math.max(0, now - last) * rate / 1000)
  if tokens < 1 then
    return reply('limited', {}, math.ceil((1 - tokens) * 1000 / rate))
  end
  wanted = math.min(wanted, math.floor(tokens))
end

local leased, granted, longest = {}, {}, 0
-- Whether the last task `take` was given ended unstarted instead (it used no turn).
local ended_unstarted = false

-- Leases one ready task (already out of the ready sets): the lease, its fencing token, the
-- reply, and its group's count. Returns false when the call's reply budget is spent. A task
-- past its start deadline is ended instead, whatever the sweep has or has not done yet, so it
-- is never leased late.
local function take(id, meta)
  ended_unstarted = false
  if meta.start_by then
    if meta.start_by <= now then
      ended_unstarted = true
      expire_unstarted(id, meta)
      if meta.group then
        group_sync(meta.group, id, meta)
      end
      return true
    end
    redis.call('ZREM', K.deadlines, id)
    meta.start_by = nil
  end
  local lease_ms = requested_ms or meta.lease_ms or POLICY.lease_ms
  meta.state = 'leased'
  meta.seq = nil
  meta.attempts = meta.attempts + 1
  meta.lease_id = arg(6 + #leased)
  meta.lease_len = lease_ms
  meta.leased_until = now + lease_ms
  meta.worker = worker ~= '' and worker or nil
  redis.call('ZADD', K.leased, meta.leased_until, id)
  table.insert(EVENTS.tasks, id)
  local task, size = task_reply(id, meta, save_meta(id, meta))
  if meta.group then
    group_leased(id, meta)
  end
  table.insert(leased, task)
  table.insert(granted, id .. ' ' .. meta.lease_id)
  longest = math.max(longest, lease_ms)
  SHARED.lease_bytes = SHARED.lease_bytes + size
  return SHARED.lease_bytes < LEASE_REPLY_BYTES_MAX
end

-- Takes a task without a group from `ready` (its member known).
local function take_ungrouped(member)
  redis.call('ZREM', K.ready, member)
  local id = member_id(member)
  redis.call('ZREM', K.ready_time, id)
  local meta = load_task(id, member)
  if meta and meta.state == 'ready' and not meta.group then
    return take(id, meta)
  end
  return true
end

-- What this worker may read: the requirement sets its labels satisfy (prelude/choice.lua).
local view = worker_view(labels)

-- Takes a task with requirements from `rready` (its member and set known).
local function take_required(member, rset)
  redis.call('ZREM', K.rready, member)
  view.ready[rset] = req_first(rset) or false
  local _, id = req_member_parts(member)
  if not id then
    return true
  end
  redis.call('ZREM', K.ready_time, id)
  local meta = load_task(id)
  if meta and meta.state == 'ready' and not meta.group and meta.rset == rset then
    return take(id, meta)
  end
  return true
end

-- Takes the task best_plain found.
local function take_plain_member(member, rset)
  if rset then
    return take_required(member, rset)
  end
  return take_ungrouped(member)
end

-- The next task without a group (no group is in the turns).
local function take_plain()
  local member, _, rset = best_plain(view)
  if not member then
    return nil
  end
  return take_plain_member(member, rset)
end

-- Takes a group's next task: `head` (a `gheads` member) and its score, `rset` its requirement
-- set ('' for none; then `entry` is its `rheads` member). The group's limits are checked
-- again first (a policy change may have lowered them since the group joined the turns), and a
-- head that is not its group's current one, or whose record is gone or no longer ready, is
-- dropped and its group put right: a stale entry costs one look.
local function take_grouped(head, score, rset, entry)
  local id, g = group_head_parts(head)
  local function drop()
    if rset == '' then
      redis.call('ZREM', K.gheads, head)
    else
      redis.call('ZREM', K.rheads, entry)
      turns_touched(rset)
    end
  end
  local _, in_head = turn_parts(g and redis.call('HGET', K.gstate, g))
  if g and (in_head ~= head or group_hold(g, group_conf(g))) then
    drop()
    group_sync(g)
    return true
  end
  local meta = id and load_task(id)
  local live = meta and meta.state == 'ready' and meta.group == g
  if live and ((meta.rset or '') ~= rset or not labels_satisfy(view.labels, rset)) then
    -- An index out of step with the record (a hand edit): re-placed from `gready`, never
    -- handed to a worker whose labels do not satisfy the task.
    drop()
    group_sync(g, nil, nil, true)
    return true
  end
  if not live then
    drop()
    if g then
      local member = g .. ' ' .. priority_band(-score) .. string.match(head, '^(%S+)')
      redis.call('ZREM', K.gready, member)
      if rset ~= '' then
        redis.call('ZREM', K.gready, member .. ' ' .. rset)
      end
      group_sync(g)
    end
    return true
  end
  group_remove(id, meta, false)
  redis.call('ZREM', K.ready_time, id)
  return take(id, meta)
end

-- The next task under `priority`: the best of the tasks without a group and the groups' heads
-- (lower score, then the earlier arrival number, which all members start with).
local function take_by_priority()
  local plain, rank, rset = best_plain(view)
  local head_rank, head, score, head_set, entry = best_head(view)
  if not plain and not head then
    return nil
  end
  if head and (not rank or head_rank < rank) then
    return take_grouped(head, score, head_set, entry)
  end
  return take_plain_member(plain, rset)
end

-- The next task under `fair`: the group whose pass is lowest takes its turn and its pass moves
-- on by 1000 / weight (stride scheduling, so shares follow the weights); the clock becomes the
-- pass served. The tasks without a group are one group of weight 1 whose pass is kept in the
-- queue's stats; it too starts from the clock when it was idle.
local function take_by_turn()
  ended_unstarted = false -- a stale entry's step calls no take(): no earlier step's answer
  local g, pass, turn_set, pass_seen = next_turn(view)
  local plain, _, rset = best_plain(view)
  if not g and not plain then
    return nil
  end
  local clock = fair_clock()
  local plain_pass = math.max(clock, tonumber(redis.call('HGET', K.stats, 'fair_plain')) or 0)
  if plain and (not g or plain_pass <= pass) then
    redis.call('HSET', K.stats, 'fair_clock', plain_pass, 'fair_plain', plain_pass + 1000)
    local more = take_plain_member(plain, rset)
    if ended_unstarted then -- a task that was not run takes no turn
      redis.call('HSET', K.stats, 'fair_clock', clock, 'fair_plain', plain_pass)
    end
    return more
  end
  -- The turn must be the one the group's state says it has; else put right, then go on.
  local state = redis.call('HGET', K.gstate, g)
  local kind, head, state_set, state_pass, band = turn_parts(state)
  local score
  if turn_set == '' then
    if kind ~= 't' then
      redis.call('ZREM', K.gturn, g)
      group_sync(g)
      return true
    end
    score = tonumber(redis.call('ZSCORE', K.gheads, head))
    if not score then
      group_sync(g, nil, nil, true) -- a head lost from `gheads`
      return true
    end
  else
    if kind ~= 'u' or state_set ~= turn_set or pass_text(state_pass) ~= pass_seen then
      redis.call('ZREM', K.rturn, turn_set .. ' ' .. pass_seen .. ' ' .. g)
      turns_touched(turn_set)
      group_sync(g)
      return true
    end
    score = tonumber(band) - 1000
  end
  -- A pass behind the clock is brought up to it: a group no worker could serve (its next task
  -- needs labels only some have) banks no turns meanwhile, and the clock never goes back.
  local served = math.max(pass, clock)
  redis.call('HSET', K.stats, 'fair_clock', served)
  local next_pass = served + 1000 / group_conf(g).weight
  turn_repass(g, state, next_pass)
  local entry = turn_set ~= '' and (turn_set .. ' ' .. band .. head) or nil
  local more = take_grouped(head, score, turn_set, entry)
  if ended_unstarted then -- a task that was not run takes no turn (if still in the turns)
    redis.call('HSET', K.stats, 'fair_clock', clock)
    local now_state = redis.call('HGET', K.gstate, g)
    local now_kind, _, _, now_pass = turn_parts(now_state)
    if now_kind == 't' or (now_kind == 'u' and pass_text(now_pass) == pass_text(next_pass)) then
      turn_repass(g, now_state, pass)
    end
  end
  return more
end

-- Each step grants a task, ends one past its start deadline, or puts one stale entry right;
-- the bound keeps a run of those from making the call long. `spent`: the bound ran out first.
local steps, step_max, spent = 0, wanted + INLINE_SETTLE_MAX, false
local grouped = redis.call('EXISTS', K.gturn) == 1 or labelled_turns(view)
if not grouped and not sets_ready(view) then
  -- No group in the turns and no task with requirements for this worker: the tasks without a
  -- group, in range reads (each member read is taken out of `ready`, so every read moves on).
  local full = false
  while #leased < wanted and not (full or spent) do
    local asked = wanted - #leased
    local members = redis.call('ZRANGE', K.ready, 0, asked - 1)
    for _, member in ipairs(members) do
      if steps >= step_max then
        spent = true
        break
      end
      steps = steps + 1
      if not take_ungrouped(member) then
        full = true
        break
      end
    end
    if #members < asked then
      break -- that was all of them
    end
  end
else
  local next_task = take_plain
  if grouped then
    next_task = POLICY.strategy == 1 and take_by_turn or take_by_priority
  end
  while #leased < wanted do
    if steps >= step_max then
      spent = true
      break
    end
    steps = steps + 1
    if not next_task() then
      break
    end
  end
end
-- The bound ran out on tasks that were not handed out, and some are left: ask again at once
-- (retry_after_ms 0).
if #leased == 0 and spent and (grouped or redis.call('ZCARD', K.ready) > 0 or sets_ready(view)) then
  return reply('limited', {}, 0)
end

-- Nothing granted while some groups wait for rate tokens: say when the first has one.
if #leased == 0 then
  local first = redis.call('ZRANGE', K.gwait, 0, 0, 'WITHSCORES')
  if first[1] then
    return reply('limited', {}, math.max(1, math.min(1000, tonumber(first[2]) - now)))
  end
end

if tokens then
  redis.call('HSET', K.stats, 'rate_tokens', tostring(tokens - #leased), 'rate_at', now)
end
if #leased > 0 then
  worker_count(worker, 1, #leased, #leased, recorded)
end
if request_id ~= '' and #granted > 0 then
  redis.call('HSET', K.requests, request_id, table.concat(granted, ' '))
  redis.call('ZADD', K.request_expiry, now + longest, request_id)
  table.insert(EVENTS.requests, request_id)
end
local unmatched = #leased == 0 and redis.call('EXISTS', K.rready, K.rturn) > 0
return reply('ok', leased, false, unmatched and 1 or false)
