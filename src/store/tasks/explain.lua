-- explain.lua: why a task is where it is, from one atomic read (it writes nothing, so it runs
-- on a read-only replica too and costs no more than a GET). For a task waiting to be leased,
-- every cause that holds it now, in the order a lease meets them; for a leased one, who holds
-- it; for a finished one, how it ended. Bounded: a fixed number of reads, whatever the queue
-- holds (each count is a sorted-set rank or count, O(log n)).
-- arg: 1 task id (a lease call counts as recent within the policy's `workers_window_ms`)
-- Returns reply('ok', state, { reason, ... }) | reply('not_found') | reply('quarantined'), each
-- reason a list: { code, values... } (the server words them; see store/tasks/explain.rs).

local id, window = arg(1), POLICY.workers_window_ms
local raw = redis.call('HGET', K.meta, id)
if not raw then
  return reply('not_found')
end
-- A record any call would quarantine is reported as quarantined, not read: `normalize` checks
-- every field's type and the state (it writes nothing; `load_task` would quarantine).
local ok, decoded = pcall(cjson.decode, raw)
local meta = ok and normalize(decoded)
if not meta or redis.call('ZSCORE', K.quarantine, id) then
  return reply('quarantined')
end
local state = meta.state
local reasons = {}
local function say(...)
  table.insert(reasons, { ... })
end
-- A count or a time as an integer: a hand-edited record's negative, fractional or huge number
-- reads as 0 or 2^53 rather than failing the call.
local function num(value)
  value = tonumber(value) or 0
  if value ~= value or value < 0 then
    value = 0
  end
  return string.format('%d', math.min(math.floor(value), 2 ^ 53))
end

if state == 'leased' then
  say('leased', meta.worker or '', num(meta.leased_until))
  return reply('ok', state, reasons)
end
if state == 'completed' or state == 'dead' or state == 'cancelled' then
  -- A dead task's last history entry says why (out of attempts, retry false, expired unstarted).
  local last = ''
  if state == 'dead' then
    local read, entries = pcall(history, id, meta)
    entries = read and entries
    if type(entries) == 'table' then
      entries = entries[#entries]
    end
    local decoded = entries and select(2, pcall(cjson.decode, entries))
    last = type(decoded) == 'table' and type(decoded.message) == 'string' and decoded.message or ''
  end
  say(state, num(meta.finished_at), num(meta.attempts), last)
  return reply('ok', state, reasons)
end
if state == 'waiting' then
  say('waiting_for', unpack(unheard_parents(id)))
  return reply('ok', state, reasons)
end
if state == 'scheduled' then
  if meta.run_at > now then
    say('scheduled', num(meta.run_at), num(meta.attempts))
    return reply('ok', state, reasons)
  end
  state = 'ready' -- due: the next call that settles it makes it ready
end

-- Ready (or due). A start deadline that has passed ends it at the next lease or sweep.
local due = meta.state == 'scheduled'
if not due and meta.start_by and meta.start_by <= now then
  say('start_deadline_passed', num(meta.start_by))
end
-- The queue's own limits, as a lease checks them.
if POLICY.paused == 1 then
  say('queue_paused')
end
local cap = POLICY.max_in_flight
if cap then
  local in_flight = redis.call('ZCARD', K.leased)
  if in_flight >= cap then
    say('queue_max_in_flight', num(in_flight), num(cap))
  end
end
local rate = POLICY['rate_limit.per_second']
if rate then
  local burst = POLICY['rate_limit.burst'] or math.max(1, math.ceil(rate))
  local bucket = redis.call('HMGET', K.stats, 'rate_tokens', 'rate_at')
  local last = tonumber(bucket[2]) or now
  local tokens = math.min(burst, (tonumber(bucket[1]) or burst) + math.max(0, now - last) * rate / 1000)
  if tokens < 1 then
    say('queue_rate_limited', num(math.ceil((1 - tokens) * 1000 / rate)))
  end
end

-- Whether a worker seen within the window had labels that satisfy `rset` on its last lease
-- call, and how many were seen (at most WORKERS_PER_QUEUE_MAX names, read in one call).
local function labels_seen(rset)
  local names = redis.call('ZRANGEBYSCORE', K.workers, now - window, '+inf', 'LIMIT', 0,
    WORKERS_PER_QUEUE_MAX)
  if #names > 0 then
    for _, text in ipairs(redis.call('HMGET', K.wlabels, unpack(names))) do
      if text and labels_satisfy(labels_table(text), rset) then
        return true, #names
      end
    end
  end
  return false, #names
end

-- Its group's limits, in the order `group_hold` checks them. (Its holder is read here rather
-- than with `group_holder`, which may quarantine: this script writes nothing.)
local g = meta.group ~= '' and meta.group or nil
if g then
  local conf = group_conf(g)
  if conf.paused then
    say('group_paused', g)
  end
  if conf.max_in_flight then
    local out = group_in_flight(g)
    if out >= conf.max_in_flight then
      say('group_max_in_flight', g, num(out), num(conf.max_in_flight))
    end
  end
  if conf.ordered then
    local holder = redis.call('HGET', K.ghold, g)
    if holder and holder ~= id then
      local held = redis.call('HGET', K.meta, holder)
      local decoded = held and select(2, pcall(cjson.decode, held))
      local holder_state = type(decoded) == 'table' and decoded.state
      if holder_state == 'leased' or holder_state == 'scheduled' or holder_state == 'ready' then
        say('ordered_group_busy', g, holder, holder_state)
      end
    end
  end
  local wait_until = group_rate_wait(g, conf)
  if wait_until then
    say('group_rate_limited', g, num(wait_until - now))
  end
  -- Its group's next task, ahead of it, needs labels no worker seen lately has: the group
  -- waits for such a worker (a group keeps its order).
  local kind, head, head_set = turn_parts(redis.call('HGET', K.gstate, g))
  local head_id = kind == 'u' and string.match(head, '^%x+:(%S+) ')
  if head_id and head_id ~= id and not labels_seen(head_set) then
    say('group_next_needs_labels', g, head_id, head_set)
  end
end

-- How many tasks a lease takes before it: exact where one index orders them all (its own
-- group, or the tasks without a group, under `fair`; the whole queue under `priority` when no
-- grouped task is ready), else a lower bound that says so. A due task is counted where it
-- will be once made ready: a grouped one back at its place (its `gseq`), any other at the back
-- of its priority. What a lease settles before it picks can change the order: other due tasks
-- join it, and tasks past their start deadline leave it. While any is waiting the count is a
-- lower bound, and the passed ones are taken off it (whether they are ahead is not known).
local priority = meta.priority
local joining = redis.call('ZCOUNT', K.scheduled, '-inf', now) - (due and 1 or 0)
local leaving = redis.call('ZCOUNT', K.deadlines, '-inf', now)
  - ((not due and meta.start_by and meta.start_by <= now) and 1 or 0)
local ahead, scope, exact
if meta.state == 'ready' and not meta.seq then
  ahead, scope, exact = 0, 'queue', false -- a ready record from before version 1: no place known
elseif g then
  local band = g .. ' ' .. priority_band(priority)
  local place = meta.gseq or (not due and meta.seq)
  local upto = place and (band .. place .. ':' .. id) or (band .. '~')
  ahead = redis.call('ZLEXCOUNT', K.gready, '[' .. g .. ' ', '(' .. upto)
  scope, exact = 'group', POLICY.strategy == 1
elseif meta.rset then
  -- Which tasks go first depends on the worker that asks: its own set's tasks ahead of it,
  -- and the tasks without requirements of a higher priority, go first for every one of them.
  local upto = due and (meta.rset .. ' ' .. priority_band(priority) .. '~')
    or req_member(id, meta)
  ahead = redis.call('ZLEXCOUNT', K.rready, '[' .. meta.rset .. ' ', '(' .. upto)
    + redis.call('ZCOUNT', K.ready, '-inf', '(' .. (-priority))
  scope, exact = 'queue', false
else
  local rank = due and redis.call('ZCOUNT', K.ready, '-inf', -priority)
    or redis.call('ZRANK', K.ready, meta.seq .. ':' .. id)
  rank = rank or nil -- a missing member is false: not in the index (a hand-edited record)
  ahead = rank or 0
  -- Ready tasks with requirements go before it for the workers that may take them, and not
  -- for the others: while any wait, the count is a lower bound.
  local required = redis.call('EXISTS', K.rready) == 1
  if POLICY.strategy == 1 then
    scope, exact = 'ungrouped', rank ~= nil and not required
  elseif redis.call('EXISTS', K.gready) == 0 and not required then
    scope, exact = 'queue', rank ~= nil
  else
    -- Each group whose next task has a higher priority has at least that task ahead.
    ahead = ahead + redis.call('ZCOUNT', K.gheads, '-inf', '(' .. (-priority))
    scope, exact = 'queue', false
  end
end
ahead = math.max(0, ahead - leaving)
say('behind', num(ahead), scope, (exact and joining + leaving == 0) and 'exact' or 'at_least')

-- Whether anyone who may take it is asking.
if meta.rset then
  local matched, seen_count = labels_seen(meta.rset)
  if not matched then
    say('no_matching_worker', meta.rset, num(seen_count))
  end
end

-- Whether anyone is asking: the time of the queue's last lease call.
local seen = tonumber(redis.call('HGET', K.stats, 'lease_seen'))
if not seen or now - seen > window then
  say('no_workers', seen and num(seen) or '')
end
return reply('ok', state, reasons)
