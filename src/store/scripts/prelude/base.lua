-- base.lua: the frame every taskgate script runs in. scripts are put together at compile time
-- (store/script.rs) as: shebang, `local KEY_ROLES = {...}`, the prelude files, the script's body.
--
-- KEYS: the roles the script declared, in that order; `K.<role>` names each key. Using a role
-- the script did not declare is an error, so a script can never touch a key it was not passed.
-- Every key carries the queue's hash tag, so each script runs in one Redis Cluster slot.
-- ARGV 1..8: the queue's dispatch policy: lease_ms, max_attempts, backoff_initial_ms,
--   backoff_multiplier, backoff_max_ms, backoff_jitter, completed_ttl_ms, dead_ttl_ms;
--   ARGV 9: a random seed for jitter. A script's own arguments follow: arg(1) is ARGV[10].
-- Replies: { status, now, quarantined, ... } where `quarantined` lists the records this call
-- moved aside ("<id>: <why>"), so the server can log them.

local K = setmetatable({}, {
  __index = function(_, role)
    error('taskgate: key role ' .. tostring(role) .. ' was not declared by this script')
  end,
})
for i, role in ipairs(KEY_ROLES) do
  rawset(K, role, KEYS[i])
end

local POLICY = {
  lease_ms = tonumber(ARGV[1]),
  max_attempts = tonumber(ARGV[2]),
  backoff_initial_ms = tonumber(ARGV[3]),
  backoff_multiplier = tonumber(ARGV[4]),
  backoff_max_ms = tonumber(ARGV[5]),
  backoff_jitter = tonumber(ARGV[6]),
  completed_ttl_ms = tonumber(ARGV[7]),
  dead_ttl_ms = tonumber(ARGV[8]),
}
math.randomseed(tonumber(ARGV[9]))

local function arg(i)
  return ARGV[9 + i]
end

-- Milliseconds since the epoch by the Redis clock, the one clock all instances share.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local now = now_ms()

local QUARANTINED = {}

local function reply(status, ...)
  return { status, now, QUARANTINED, ... }
end
