-- base.lua: the frame every taskgate script runs in. scripts are put together at compile time
-- (store/script.rs) as: shebang, `local KEY_ROLES = {...}`, the prelude files, the script's body.
--
-- KEYS: the roles the script declared, in that order; `K.<role>` names each key. A script uses
-- only the roles it declared (a unit test checks), so it never touches a key it was not passed.
-- Every key carries the queue's hash tag, so each script runs in one Redis Cluster slot.
-- ARGV 1..15: the server's default for each policy field, in POLICY_FIELDS order ('' = not
--   set); ARGV 16: a random seed for jitter. A script's own arguments follow: arg(1) is
--   ARGV[17].
-- Replies: { status, now, quarantined, ... } where `quarantined` lists the records this call
-- moved aside ("<id>: <why>"), so the server can log them.

-- A plain table, built once per call: the cheapest way to name keys. That a script uses only
-- roles it declared is checked by a unit test (store::script::tests), not at run time.
local K = {}
for i, role in ipairs(KEY_ROLES) do
  K[role] = KEYS[i]
end

-- The policy fields, in the order their defaults come in ARGV (model::Field::ALL; a unit test
-- checks the two agree). Booleans are 1 and 0.
local POLICY_FIELDS = {
  'lease_ms', 'max_attempts', 'backoff.initial_ms', 'backoff.multiplier', 'backoff.max_ms',
  'backoff.jitter', 'max_payload_bytes', 'rate_limit.per_second', 'rate_limit.burst',
  'max_in_flight', 'paused', 'weight', 'completed_ttl_ms', 'dead_ttl_ms', 'dedup_window_ms',
}

-- The effective policy: the server's defaults with the queue's own values (its `policy`
-- hash) on top, read in this same atomic step, so a change applies to the very next call on
-- every instance. A stored value that is not a number (a hand-edited hash) is ignored; so are
-- the hash's bookkeeping fields (`~version`, ...), and any other name is never read.
local POLICY = {}
for i = 1, #POLICY_FIELDS do
  POLICY[POLICY_FIELDS[i]] = tonumber(ARGV[i])
end
if K.policy then
  local own = redis.call('HGETALL', K.policy)
  for i = 1, #own, 2 do
    local value = tonumber(own[i + 1])
    if value and string.byte(own[i]) ~= 126 then -- '~'
      POLICY[own[i]] = value
    end
  end
end

local ARG_BASE = #POLICY_FIELDS + 1
local function arg(i)
  return ARGV[ARG_BASE + i]
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
local now = now_ms()

local QUARANTINED = {}

-- The number of tasks in each state (ZCARDs, so O(1) each), in the order the store reads them
-- (`Reply::counts`). Only for scripts that declare every state role.
local function state_counts()
  local counts = {}
  for _, role in ipairs({ 'ready', 'scheduled', 'leased', 'completed', 'dead', 'cancelled', 'quarantine' }) do
    table.insert(counts, redis.call('ZCARD', K[role]))
  end
  return counts
end

-- What this call changed, published at its end as one message on the queue's `events` channel
-- (when the script declares it), so instances wake their waiting workers and watchers at once:
-- "r <n>" n tasks became ready, "s" a lease ended or limits changed (a waiter held back by
-- max_in_flight or a pause may try again), "t <id>" a task changed state, "q <hex>" a lease
-- call recorded leases under this request id (hex-encoded: ids may hold spaces), so other
-- calls waiting with the same id answer them at once.
local EVENTS = { ready = 0, slot = false, tasks = {}, request = nil }

local function reply(status, ...)
  if K.events and (EVENTS.ready > 0 or EVENTS.slot or #EVENTS.tasks > 0 or EVENTS.request) then
    local message = {}
    if EVENTS.ready > 0 then
      table.insert(message, 'r ' .. EVENTS.ready)
    end
    if EVENTS.slot then
      table.insert(message, 's')
    end
    for _, id in ipairs(EVENTS.tasks) do
      table.insert(message, 't ' .. id)
    end
    if EVENTS.request then
      local hex = string.gsub(EVENTS.request, '.', function(c)
        return string.format('%02x', string.byte(c))
      end)
      table.insert(message, 'q ' .. hex)
    end
    redis.call('PUBLISH', K.events, table.concat(message, ' '))
  end
  return { status, now, QUARANTINED, ... }
end
