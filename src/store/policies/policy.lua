-- policy.lua: replaces, merges into or resets the queue's own policy values, atomically with
-- the If-Match check, so two operators editing at once cannot overwrite each other blindly.
-- The hash holds the queue's own values (one field per policy leaf) and `~version`,
-- `~updated_at`, `~updated_by`; the version grows by one on every change.
-- arg: 1 mode 'put' (the given values become the queue's own, nothing else), 'patch' (merge:
--      set the given values, remove those given as '') or 'reset' (no own values);
--      2 expected version or '' (no precondition); 3 who changes it or '';
--      4.. pairs of (field, value or '')
-- Returns reply('ok', version, updated_at, { field, value, ... }) | reply('stale', version)
--       | reply('invalid', field, message) (nothing changed).

local mode, expected, updated_by = arg(1), arg(2), arg(3)
local IS_POLICY_FIELD = {}
for _, name in ipairs(POLICY_FIELDS) do
  IS_POLICY_FIELD[name] = true
end
local stored = redis.call('HGETALL', K.policy)
local own, version = {}, 0
for i = 1, #stored, 2 do
  if IS_POLICY_FIELD[stored[i]] then
    own[stored[i]] = stored[i + 1]
  elseif stored[i] == '~version' then
    version = tonumber(stored[i + 1]) or 0
  end
end
if expected ~= '' and tonumber(expected) ~= version then
  return reply('stale', version)
end

local new = mode == 'patch' and own or {}
local i = 4
while arg(i) do
  local field, value = arg(i), arg(i + 1)
  if IS_POLICY_FIELD[field] then
    new[field] = value ~= '' and value or nil
  end
  i = i + 2
end

-- The one rule between fields, checked on the merged result (each value's own bounds were
-- checked by the server): a retry's first delay cannot exceed its longest.
local function effective(field)
  local default = nil
  for n, name in ipairs(POLICY_FIELDS) do
    if name == field then
      default = tonumber(ARGV[n])
    end
  end
  return tonumber(new[field]) or default
end
if effective('backoff.initial_ms') > effective('backoff.max_ms') then
  return reply('invalid', 'backoff.initial_ms', 'must not exceed backoff.max_ms')
end

redis.call('DEL', K.policy)
local written = {}
for field, value in pairs(new) do
  table.insert(written, field)
  table.insert(written, value)
end
-- A resumed queue, or a raised limit, may let waiting workers lease now.
EVENTS.slots = EVENTS.slots + 1
EVENTS.ready = redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.gready)
-- Tasks that need labels wake the waiters that have them (at most REQUIREMENT_SETS_MAX sets,
-- and a few redriven past it).
local needing = redis.call('ZCARD', K.rready) + redis.call('ZCARD', K.rheads)
if needing > 0 then
  for _, rset in ipairs(redis.call('HKEYS', K.rsets)) do
    EVENTS.rsets[rset] = needing
  end
end
version = version + 1
redis.call('HSET', K.policy, '~version', version, '~updated_at', now, '~updated_by', updated_by)
if #written > 0 then
  redis.call('HSET', K.policy, unpack(written))
end
return reply('ok', version, now, written)
