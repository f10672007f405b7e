-- workers.lua: who works the queue. Each lease and heartbeat records its worker's name with
-- when it last called (`workers`: name by last call, ms); each lease granted, completed or
-- failed counts against that worker in one-minute buckets over the last minutes of the
-- policy's `workers_window_ms`, with the leases it holds now (`wstats`: name -> "<held> <minute>:<leased>,
-- <completed>,<failed>;..." newest bucket first). A worker that gave no name is '' and is
-- counted like the others, never listed. At most WORKERS_PER_QUEUE_MAX names are kept per
-- queue; a new name past that (when none can be dropped for being silent) is not recorded and
-- is counted in the stats' `workers_unlisted`. The reaper drops workers silent past the
-- window.

-- Its labels (a lease call's, canonical; nil for a heartbeat, which has none) are kept in
-- `wlabels` while the name is recorded, for the workers view and explain's
-- `no_matching_worker`: the anonymous workers share one entry, the last call's.
local function worker_labelled(name, labels)
  if labels == nil then
    return
  end
  local had = redis.call('HGET', K.wlabels, name)
  if labels == '' and had then
    redis.call('HDEL', K.wlabels, name)
  elseif labels ~= '' and had ~= labels then
    redis.call('HSET', K.wlabels, name, labels)
  end
end

-- Records that `name` called now (with `labels`, see worker_labelled); a new name takes a
-- place when there is one, in a queue that exists (a worker polling a mistyped queue name
-- makes no key). Returns whether it is recorded.
local function worker_seen(name, labels)
  if redis.call('ZADD', K.workers, 'XX', 'CH', now, name) == 1 or redis.call('ZSCORE', K.workers, name) then
    worker_labelled(name, labels)
    return true
  end
  if redis.call('EXISTS', K.stats) == 0 then
    return false
  end
  if redis.call('ZCARD', K.workers) >= WORKERS_PER_QUEUE_MAX then
    local silent = redis.call('ZRANGEBYSCORE', K.workers, '-inf', now - POLICY.workers_window_ms,
      'LIMIT', 0, 1)[1]
    if not silent then
      redis.call('HINCRBY', K.stats, 'workers_unlisted', 1)
      return false
    end
    redis.call('ZREM', K.workers, silent)
    -- pcall: a rows key of the wrong type (a hand edit) must not fail the lease.
    redis.pcall('HDEL', K.wstats, silent)
    redis.pcall('HDEL', K.wlabels, silent)
  end
  redis.call('ZADD', K.workers, now, name)
  worker_labelled(name, labels)
  return true
end

-- The counts this script call owes the workers' rows, by name (names in the order first
-- counted), each as the steps the calls took, in order: the calls one script call carries (a
-- batch of acks, leases that travel together, the leases a lease call reclaims) each add a
-- step here, and each row is read and written once, at the end of the script call
-- (`at_call_end`), not once per task. Replaying the steps in order gives the row what writing
-- it at each step would have.
local TALLY, TALLIED = {}, {}
on_each_call(function()
  TALLY, TALLIED = {}, {}
end)

-- Writes `name`'s row after `steps` ({ column, n, held, recorded } each): `n` added to this
-- minute's count in `column` (1 leased, 2 completed, 3 failed), `held` to the leases it holds
-- (never below 0). A row is made by a recorded step (a lease, `recorded` being worker_seen's
-- answer), so a step of a name that has no row yet and is not recorded (past the cap, or
-- dropped since) counts nothing. Buckets older than the window are dropped as it goes.
local function worker_row_written(name, steps)
  local raw = redis.call('HGET', K.wstats, name)
  local minute = math.floor(now / 60000)
  local window = math.ceil(POLICY.workers_window_ms / 60000)
  local held_before, buckets = string.match(raw or '', '^(%d+) ?(.*)$')
  local holding, rest = tonumber(held_before) or 0, buckets or ''
  local counts = { 0, 0, 0 }
  local m, l, c, f, older = string.match(rest, '^(%d+):(%d+),(%d+),(%d+);?(.*)$')
  if tonumber(m) == minute then
    counts, rest = { tonumber(l), tonumber(c), tonumber(f) }, older
  end
  local row = raw and true or false -- (a missing field reads as false, not nil)
  for _, step in ipairs(steps) do
    if row or step[4] then
      row = true
      counts[step[1]] = counts[step[1]] + step[2]
      holding = math.max(0, holding + step[3])
    end
  end
  if not row then
    return
  end
  local kept = { string.format('%d:%d,%d,%d', minute, counts[1], counts[2], counts[3]) }
  for bucket in string.gmatch(rest, '[^;]+') do
    local at = tonumber(string.match(bucket, '^(%d+):'))
    if not at or at <= minute - window or #kept > window then
      break -- newest first: the rest are older still
    end
    table.insert(kept, bucket)
  end
  redis.call('HSET', K.wstats, name, string.format('%d ', holding) .. table.concat(kept, ';'))
end

-- Each row on its own (pcall): a row Redis cannot write (its key of the wrong type) leaves the
-- other workers' rows written.
at_call_end(function()
  for _, name in ipairs(TALLIED) do
    logged_pcall('a worker row was not written', worker_row_written, name, TALLY[name])
  end
end)

-- Adds `n` to `name`'s count in `column` (1 leased, 2 completed, 3 failed) for this minute,
-- and `held` to the leases it holds, when this script call ends (see TALLY). `recorded` is
-- worker_seen's answer, when the caller has it.
local function worker_count(name, column, n, held, recorded)
  local steps = TALLY[name]
  if not steps then
    steps = {}
    TALLY[name] = steps
    table.insert(TALLIED, name)
  end
  table.insert(steps, { column, n, held, recorded == true })
end
