-- fire.lua: one run of a schedule: submits its task for one tick (or for a trigger), records
-- the run, and moves the schedule on to its next tick, in one atomic step. This is what makes a
-- tick fire exactly once across instances, restarts and kill -9: every instance's sweep may
-- decide the same tick, but only the first fire.lua to run finds the schedule still due at that
-- tick (`expected`) and at the version it decided on; the others find it moved and do nothing.
-- The task's idempotency key holds the tick as well (given by the server), so even a tick
-- decided twice (a schedule re-written to a tick that already fired) gives one task.
-- arg: 1 name, 2 mode 'tick' | 'trigger', 3 the tick it was due at (mode 'tick'; '' when it
--      was found missing from the due set, which it must still be: a mend), 4 the
--      version decided on, 5 the tick to run, or '' (none: the ticks were missed and skipped),
--      6 ticks missed, 7 next tick or '' (ended), 8-24 the task, as submit.lua's 1-17
-- Returns reply('ok', submit status or 'none', its value, the policy's max_attempts)
--       | reply('moved') (another fire or a write came first) | reply('gone').

local name, mode, version = arg(1), arg(2), tonumber(arg(4))
local entry = redis.call('HGET', K.schedules, name)
if not entry then
  return reply('gone')
end
if (tonumber(string.match(entry, '^(%d+) ')) or 0) ~= version then
  return reply('moved')
end
if mode == 'tick' and tonumber(redis.call('ZSCORE', K.sdue, name)) ~= tonumber(arg(3)) then
  return reply('moved')
end

local ok, log = pcall(cjson.decode, redis.call('HGET', K.sruns, name) or '{}')
if not ok or type(log) ~= 'table' or type(log.runs) ~= 'table' then
  log = { runs = {} }
end
local function count(field, n)
  log[field] = (tonumber(log[field]) or 0) + n
end
local function ran(tick, id, kind, why)
  table.insert(log.runs, 1, { tonumber(tick), id or false, kind, why })
  while #log.runs > SCHEDULE_RUNS_KEPT do
    table.remove(log.runs)
  end
end

local status, value = 'none', false
if arg(5) ~= '' then
  local result = submit_one(arg(8), arg(9), arg(10), arg(11), arg(12), arg(13), arg(14), arg(15),
    arg(16), arg(17), arg(18), arg(19), arg(20), arg(21), arg(22), arg(23), arg(24))
  status, value = result[1], result[2] or false
  local kind = mode == 'trigger' and 'trigger' or 'tick'
  if status == 'created' then
    if arg(15) ~= '' then
      -- A tick's key guards against deciding that tick twice, which happens within seconds:
      -- kept an hour, not the queue's dedup window, so a fast schedule's keys stay few.
      redis.call('ZADD', K.idempotency_expiry, now + SCHEDULE_TICK_KEY_MS, arg(15))
    end
    -- The task says which schedule's run made it ("<kind> <ms> <name>", read by record.rs).
    local meta = load_task(arg(8))
    if meta then
      meta.sched = kind .. ' ' .. string.format('%d', tonumber(arg(5))) .. ' ' .. name
      value = save_meta(arg(8), meta)
    end
    ran(arg(5), arg(8), kind)
    count(mode == 'trigger' and 'triggered' or 'fired', 1)
  elseif status == 'replayed' then
    -- The tick's task exists already: the run is that task (its id is in the reply).
    local first = redis.call('HGET', K.idempotency, arg(15))
    ran(arg(5), first and string.match(first, '^(%S+)') or false, kind)
  else
    ran(arg(5), false, kind, status)
    count('failed', 1)
  end
end
count('missed', tonumber(arg(6)))
redis.call('HSET', K.sruns, name, cjson.encode(log))
if mode == 'tick' then
  if arg(7) ~= '' then
    redis.call('ZADD', K.sdue, tonumber(arg(7)), name)
  else
    redis.call('ZREM', K.sdue, name)
  end
end
return reply('ok', status, value, POLICY.max_attempts)
