-- write.lua: replaces, merges into or resets a group's own limits (its `gconf` entry: JSON of
-- `weight`, `max_in_flight`, `rate_limit.per_second`, `rate_limit.burst`, `paused`, and
-- `~version`, `~updated_at`, `~updated_by`), atomically with the If-Match check, then puts the
-- group where its limits now say: a paused group leaves the turns at once, a resumed one joins
-- them. A group left without overrides has no entry (version 0). A version is the Redis clock
-- in ms, or one more than the last when that is later, so a group's versions only grow, even
-- across a reset: an ETag from before a reset never matches what follows it.
-- arg: 1 group, 2 mode 'put' | 'patch' | 'reset', 3 expected version or '', 4 who or '',
--      5.. pairs of (field, value or '' to revert it)
-- Returns reply('ok', the group (prelude/group_view.lua)) | reply('stale', version)

local g, mode, expected, updated_by = arg(1), arg(2), arg(3), arg(4)
local FIELDS = { 'weight', 'max_in_flight', 'rate_limit.per_second', 'rate_limit.burst', 'paused' }
local KNOWN = {}
for _, name in ipairs(FIELDS) do
  KNOWN[name] = true
end

local own, version = {}, 0
local stored = redis.call('HGET', K.gconf, g)
if stored then
  local ok, decoded = pcall(cjson.decode, stored)
  if ok and type(decoded) == 'table' then
    version = tonumber(decoded['~version']) or 0
    for _, name in ipairs(FIELDS) do
      own[name] = tonumber(decoded[name])
    end
  end
end
if expected ~= '' and tonumber(expected) ~= version then
  return reply('stale', version)
end

local new = mode == 'patch' and own or {}
local i = 5
while arg(i) do
  if KNOWN[arg(i)] then
    new[arg(i)] = tonumber(arg(i + 1))
  end
  i = i + 2
end

local record, any = {}, false
for _, name in ipairs(FIELDS) do
  if new[name] ~= nil then
    record[name], any = new[name], true
  end
end
if any then
  version = math.max(version + 1, now)
  record['~version'] = version
  record['~updated_at'] = now
  if updated_by ~= '' then
    record['~updated_by'] = updated_by
  end
  redis.call('HSET', K.gconf, g, cjson.encode(record))
  redis.call('ZADD', K.gnames, 0, g)
else
  version = 0
  redis.call('HDEL', K.gconf, g)
  if (tonumber(redis.call('HGET', K.glive, g)) or 0) <= 0 then
    redis.call('ZREM', K.gnames, g)
  end
end
group_sync(g)
-- A resumed group, or a raised limit, may let waiting workers lease now.
EVENTS.slots = EVENTS.slots + 1
return reply('ok', group_view(g))
