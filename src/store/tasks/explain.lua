-- explain.lua: why a task is where it is, from one atomic read (it writes nothing, so it runs
-- on a read-only replica too and costs no more than a GET). For a task waiting to be leased,
-- every cause that holds it now, in the order a lease meets them; for a leased one, who holds
-- it; for a finished one, how it ended. Bounded: a fixed number of reads, whatever the queue
-- holds (each count is a sorted-set rank or count, O(log n)).
-- arg: 1 task id, 2 how long a lease call counts as recent (ms)
-- Returns reply('ok', state, { reason, ... }) | reply('not_found') | reply('quarantined'), each
-- reason a list: { code, values... } (the server words them; see store/tasks/explain.rs).

local id, window = arg(1), tonumber(arg(2))
local raw = redis.call('HGET', K.meta, id)
if not raw then
  return reply('not_found')
end
local ok, meta = pcall(cjson.decode, raw)
if not ok or type(meta) ~= 'table' or meta.quarantined or type(meta.state) ~= 'string' then
  return reply('quarantined')
end
local state = meta.state
local reasons = {}
local function say(...)
  table.insert(reasons, { ... })
end
local function num(value)
  return string.format('%d', tonumber(value) or 0)
end

if state == 'leased' then
  say('leased', meta.worker or '', num(meta.leased_until))
  return reply('ok', state, reasons)
end
if state == 'completed' or state == 'dead' or state == 'cancelled' then
  -- A dead task's last history entry says why (out of attempts, retry false, expired unstarted).
  local last = ''
  if state == 'dead' then
    local entries = history(id, meta)
    if type(entries) == 'table' then
      entries = entries[#entries]
    end
    local decoded = entries and select(2, pcall(cjson.decode, entries))
    last = type(decoded) == 'table' and type(decoded.message) == 'string' and decoded.message or ''
  end
  say(state, num(meta.finished_at), num(meta.attempts), last)
  return reply('ok', state, reasons)
end
if state == 'scheduled' then
  if (tonumber(meta.run_at) or 0) > now then
    say('scheduled', num(meta.run_at), num(meta.attempts))
    return reply('ok', state, reasons)
  end
  state = 'ready' -- due: the next call that settles it makes it ready (at the back of its order)
end

-- Ready (or due). The queue's own limits first, as a lease checks them.
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

-- Its group's limits.
local g = type(meta.group) == 'string' and meta.group or nil
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
  local wait_until = group_rate_wait(g, conf)
  if wait_until then
    say('group_rate_limited', g, num(wait_until - now))
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
end

-- How many tasks a lease takes before it. Exact where one index orders them all (a task
-- without a group, with no grouped task ready, under `priority`; or within the task's own
-- group or share of the fair turns), else a lower bound that says so.
if meta.state == 'ready' and type(meta.seq) == 'string' then
  local priority = tonumber(meta.priority) or 0
  if g then
    local member = g .. ' ' .. string.format('%04d', 1000 - priority) .. (type(meta.gseq) == 'string' and meta.gseq or meta.seq) .. ':' .. id
    local ahead = redis.call('ZLEXCOUNT', K.gready, '[' .. g .. ' ', '(' .. member)
    say('behind', num(ahead), 'group', POLICY.strategy == 1 and 'exact' or 'at_least')
  else
    local ahead = redis.call('ZRANK', K.ready, meta.seq .. ':' .. id) or 0
    if POLICY.strategy == 1 then
      say('behind', num(ahead), 'ungrouped', 'exact')
    elseif redis.call('EXISTS', K.gready) == 0 then
      say('behind', num(ahead), 'queue', 'exact')
    else
      -- Each group whose next task ranks before this one has at least that task ahead.
      local heads = redis.call('ZCOUNT', K.gheads, '-inf', '(' .. (-priority))
      say('behind', num(ahead + heads), 'queue', 'at_least')
    end
  end
elseif state == 'ready' then
  -- Due but not yet made ready: it joins the back of its order.
  local total = redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.gready)
  say('behind', num(total), 'queue', 'at_least')
end

-- Whether anyone is asking: the time of the queue's last lease call.
local seen = tonumber(redis.call('HGET', K.stats, 'lease_seen'))
if not seen or now - seen > window then
  say('no_workers', seen and num(seen) or '')
end
return reply('ok', state, reasons)
