-- base.lua: the frame every taskgate script runs in. Each script is a Redis function library
-- (store/script.rs): `#!lua name=...`; the per-call `KEYS`, `ARGV`, `K`, `POLICY` and
-- `frame_tables`, which makes `K` and `POLICY` for a call; `local POLICY_FIELDS = {...}`; the
-- limits; this frame; the prelude pieces the script declares; the script's body as `call`; and
-- `run_calls` (prelude/calls.lua), the function Redis calls.
--
-- Why a library: Redis runs an EVAL script's whole text on every call, and making the
-- prelude's functions anew each time cost about as much as a call's own work (22 of the 35 us
-- that a lease script's frame took, BENCHMARKS.md). A library's text runs once, when it is
-- loaded: its functions stay. So everything here that belongs to one call is made again by
-- `begin_call`, never kept from the last: the clock, the policy, the events, the budgets, and
-- what pieces register with `on_each_call`.
--
-- KEYS: the roles the script declared, in that order; `K.<role>` names each key. A script uses
-- only the roles it declared (a unit test checks), so it never touches a key it was not passed.
-- Every key carries the queue's hash tag, so each script runs in one Redis Cluster slot.
-- ARGV 1..#POLICY_FIELDS: the server's default for each policy field the script reads, in
--   POLICY_FIELDS order ('' = not set); then a random seed for jitter; then the calls this
--   script call carries (see prelude/calls.lua: concurrent calls of one script for one queue
--   travel together and pay this frame once): their number, then for each its number of
--   arguments and the arguments. While a call runs, arg(1) is its first argument.
-- Replies: one per call, { status, now, quarantined, unstarted, ... }, where `quarantined`
-- lists the records that call moved aside ("<id>: <why>"), so the server can log them, and
-- `unstarted` counts the tasks it ended at their start deadline, for the server's metrics.

-- `K`, the key of each role, is a plain table: the cheapest way to name keys. That a script
-- uses only roles it declared is checked by a unit test (store::script::tests), not at run time.

-- The effective policy, for the fields this script reads (POLICY_FIELDS, declared with the
-- script; a unit test checks it reads no other): `POLICY` opens with the server's defaults,
-- and the queue's own values (its `policy` hash) go over them, read in this same atomic
-- step so a change applies to the very next call on every instance. The whole hash is read: it
-- holds only what the policy API wrote (a value per field set, and three `~` fields), and
-- one `HGETALL` costs less than an `HMGET` of every field a task script reads. A stored value
-- that is not a number (a hand-edited hash) is ignored; a field the script does not read is
-- never looked at. Booleans are 1 and 0.
local function read_policy()
  if K.policy and #POLICY_FIELDS > 0 then
    local own = redis.call('HGETALL', K.policy)
    for i = 1, #own, 2 do
      local value = tonumber(own[i + 1])
      if value then
        POLICY[own[i]] = value
      end
    end
  end
end

-- Where the running call's arguments start in ARGV, and how many it has (set per call by
-- prelude/calls.lua): past them, arg(i) is nil, as a script reading a list expects.
local ARG_BASE, ARG_COUNT = 0, 0
local function arg(i)
  if i <= ARG_COUNT then
    return ARGV[ARG_BASE + i]
  end
end

-- Seeds Lua's random numbers from the server's seed, once, when a script first needs one.
local seeded = false
local function random()
  if not seeded then
    math.randomseed(tonumber(ARGV[#POLICY_FIELDS + 1]))
    seeded = true
  end
  return math.random()
end

-- Milliseconds since the epoch by the Redis clock, the one clock all instances share.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The Redis clock when the call began (`begin_call`).
local now = 0

local QUARANTINED = {}
local UNSTARTED = 0

-- What the calls changed, published when the script ends as one message on the queue's
-- `events` channel (when the script declares it), so instances wake their waiting workers and
-- watchers at once: "r <n>" n tasks became ready, "R <n> <requirements>" n tasks that
-- require those labels did (only workers with them are woken), "s <n>" n leases ended or limits changed
-- (as many waiters held back by max_in_flight or a pause may try again: a batch of acks
-- frees many slots at once), "t <id>" a task changed state,
-- "q <hex>" a lease call recorded leases under this request id (hex-encoded: ids may hold
-- spaces), so other calls waiting with the same id answer them at once.
local EVENTS = {}

local function publish_events()
  if not K.events then
    return
  end
  local message = {}
  if EVENTS.ready > 0 then
    table.insert(message, 'r ' .. EVENTS.ready)
  end
  for rset, n in pairs(EVENTS.rsets) do
    table.insert(message, 'R ' .. n .. ' ' .. rset)
  end
  if EVENTS.slots > 0 then
    table.insert(message, 's ' .. EVENTS.slots)
  end
  for _, id in ipairs(EVENTS.tasks) do
    table.insert(message, 't ' .. id)
  end
  for _, request in ipairs(EVENTS.requests) do
    local hex = string.gsub(request, '.', function(c)
      return string.format('%02x', string.byte(c))
    end)
    table.insert(message, 'q ' .. hex)
  end
  if #message > 0 then
    -- pcall: a refused PUBLISH (an ACL without channel rights) must not turn calls that have
    -- already changed state into an error; waiters that cannot hear re-check on their own.
    redis.pcall('PUBLISH', K.events, table.concat(message, ' '))
  end
end

-- Work budgets shared by all the calls one script call carries (prelude/calls.lua), so that a
-- batch is bounded as one call is (limits.lua): a lease settles expired leases and due tasks
-- once per script call, and the task bytes its leases hand out count against one budget (a
-- call that finds it spent answers 'again' and the server sends it anew).
local SHARED = {}

-- What pieces keep for one script call (a cache, what it touched), made anew by `begin_call`.
-- (Registered while the library loads, when Redis lends a script no library such as `table`.)
local EACH_CALL = {}
local function on_each_call(reset)
  EACH_CALL[#EACH_CALL + 1] = reset
end

-- What pieces do once the calls of one script call have run (write what they gathered for
-- all of them), in the order they registered; before the events go out.
local AT_END = {}
local function at_call_end(finish)
  AT_END[#AT_END + 1] = finish
end

-- Runs fn(...) for bookkeeping that must not turn calls that have already changed state into
-- an error (a key of the wrong type): a failure is logged by Redis, as `what`, instead.
local function logged_pcall(what, fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then
    redis.log(redis.LOG_WARNING, 'taskgate: ' .. what .. ': ' .. tostring(err))
  end
end

local function end_call()
  for i = 1, #AT_END do
    logged_pcall('end of script call', AT_END[i])
  end
end

-- Makes this call's frame; nothing from the last call of this function survives it.
local function begin_call()
  frame_tables()
  read_policy()
  ARG_BASE, ARG_COUNT, seeded = 0, 0, false
  now = now_ms()
  QUARANTINED, UNSTARTED = {}, 0
  EVENTS = { ready = 0, rsets = {}, slots = 0, tasks = {}, requests = {} }
  SHARED = { settled = false, lease_bytes = 0 }
  for i = 1, #EACH_CALL do
    EACH_CALL[i]()
  end
end

-- The first member of `name`'s range in the lex index `key`, whose members are "<name> <rest>"
-- (a group's or a requirement set's): names hold no space, and a space sorts below every
-- character they hold, so one name's range never takes in another's. nil when it has none.
local function lex_first(key, name)
  return redis.call('ZRANGE', key, '[' .. name .. ' ', '(' .. name .. '!', 'BYLEX', 'LIMIT', 0, 1)[1]
end

-- The order band of a priority: "<1000 - priority, 4 digits>", which ranks the members of the
-- lex indexes as the score -priority ranks `ready`'s.
local function priority_band(priority)
  return string.format('%04d', 1000 - priority)
end

-- The running call's answer.
local function reply(status, ...)
  return { status, now, QUARANTINED, UNSTARTED, ... }
end
