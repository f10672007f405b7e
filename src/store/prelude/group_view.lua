-- group_view.lua: one task group as the API shows it (store/groups/view.rs reads it), for the
-- scripts that answer with groups. Writes nothing.

-- Why a held group is held (the first of its limits that holds it now).
local function held_by(g, conf, in_flight)
  if conf.paused then
    return 'paused'
  end
  if conf.max_in_flight and in_flight >= conf.max_in_flight then
    return 'max_in_flight'
  end
  if conf.ordered and redis.call('HEXISTS', K.ghold, g) == 1 then
    return 'ordered'
  end
  if redis.call('ZSCORE', K.gwait, g) then
    return 'rate_limit'
  end
  return false
end

-- Group g: { name, own limits JSON or false, ready, leased, live, state, held_by or false,
-- tokens or false, { weight, max_in_flight or false, rate or false, burst or false,
-- paused 0/1, ordered 0/1 } }, with state 'turns' (in the turns), 'held' (has ready tasks it
-- may not hand out now) or 'idle' (nothing ready), and held_by 'paused', 'max_in_flight',
-- 'ordered' or 'rate_limit'.
local function group_view(g)
  local conf = group_conf(g)
  local ready = redis.call('ZLEXCOUNT', K.gready, '[' .. g .. ' ', '(' .. g .. '!')
  local in_flight = group_in_flight(g)
  local live = tonumber(redis.call('HGET', K.glive, g)) or 0
  local state = redis.call('HGET', K.gstate, g)
  local standing, why = 'idle', false
  if string.sub(state or '', 1, 1) == 'h' then
    standing, why = 'held', held_by(g, conf, in_flight)
  elseif state then
    standing = 'turns'
  end
  local tokens = false
  if conf.rate then
    local full_at = tonumber(redis.call('ZSCORE', K.grate, g)) or now
    tokens = tostring(math.max(0, conf.burst - math.max(0, full_at - now) * conf.rate / 1000))
  end
  return { g, redis.call('HGET', K.gconf, g) or false, ready, in_flight, live, standing, why,
    tokens, { conf.weight, conf.max_in_flight or false, conf.rate and tostring(conf.rate) or false,
      conf.burst or false, conf.paused and 1 or 0, conf.ordered and 1 or 0 } }
end
