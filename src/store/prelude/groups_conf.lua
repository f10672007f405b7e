-- groups_conf.lua: each task group's limits, and its leases that max_in_flight counts. A
-- group's own overrides live in `gconf` (group -> JSON object of `weight`, `paused`,
-- `max_in_flight`, `rate_limit.per_second`, `rate_limit.burst`, written by
-- store/groups/write.lua); the policy's `groups.*` fields are every group's defaults.
-- `ordered` is the queue's alone.

-- Each group's limits, read once per script call.
local GROUP_CONF
on_each_call(function()
  GROUP_CONF = {}
end)

local function group_conf(g)
  local conf = GROUP_CONF[g]
  if conf then
    return conf
  end
  local own = {}
  local raw = redis.call('HGET', K.gconf, g)
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then
      own = decoded
    end
  end
  -- A value that is not a number (a hand-edited override) is ignored, as in the policy hash.
  local function pick(name, default)
    local value = tonumber(own[name])
    if value == nil then
      return default
    end
    return value
  end
  local rate = pick('rate_limit.per_second', POLICY['groups.rate_limit.per_second'])
  local burst = pick('rate_limit.burst', POLICY['groups.rate_limit.burst'])
  conf = {
    weight = math.max(1, pick('weight', 1)),
    paused = pick('paused', 0) == 1,
    max_in_flight = pick('max_in_flight', POLICY['groups.max_in_flight']),
    rate = rate and rate > 0 and rate or nil,
    burst = burst or (rate and math.max(1, math.ceil(rate))),
    ordered = POLICY['groups.ordered'] == 1,
  }
  GROUP_CONF[g] = conf
  return conf
end

-- How many of group g's tasks are leased now, as its max_in_flight counts them (`gleased`:
-- one lex member "<group> <id>" per lease, prelude/groups.lua).
local function group_in_flight(g)
  return redis.call('ZLEXCOUNT', K.gleased, '[' .. g .. ' ', '(' .. g .. '!')
end
