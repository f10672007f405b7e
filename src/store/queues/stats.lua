-- stats.lua: a queue's counts per state, totals, the age of its oldest ready task and its own
-- policy values, from set sizes and counters only (never a scan of its tasks). Writes nothing.
-- arg: none
-- Returns reply('ok', { ready, scheduled, leased, completed, dead, cancelled, quarantined },
--   { submitted, completed, failed, dead, expired, debounced }, oldest ready since (ms) or false, policy hash,
--   { groups with ready tasks, held ones }, schedules)
-- or reply('not_found') for a queue with no trace in Redis (no counters, policy or schedules).

local counts = state_counts()
local exists = redis.call('EXISTS', K.stats, K.policy, K.schedules) > 0
if not exists then
  return reply('not_found')
end
local totals = redis.call('HMGET', K.stats, 'submitted', 'completed', 'failed', 'dead', 'expired',
  'debounced')
for n = 1, #totals do
  totals[n] = tonumber(totals[n]) or 0
end
local oldest = redis.call('ZRANGE', K.ready_time, 0, 0, 'WITHSCORES')
return reply('ok', counts, totals, oldest[2] and tonumber(oldest[2]) or false,
  redis.call('HGETALL', K.policy), group_tally(), redis.call('HLEN', K.schedules))
