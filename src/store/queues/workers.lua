-- workers.lua: the workers seen on the queue within its policy's `workers_window_ms`
-- (prelude/workers.lua), with
-- their stats as stored, at most WORKERS_PER_QUEUE_MAX of them. Writes nothing.
-- arg: none
-- Returns reply('ok', { name, last call (ms), stats or false, labels or false, ... },
-- workers_unlisted, the window (ms))
-- or reply('not_found') for a queue with no trace in Redis.

if redis.call('EXISTS', K.stats, K.policy) == 0 then
  return reply('not_found')
end
local seen = redis.call('ZRANGEBYSCORE', K.workers, now - POLICY.workers_window_ms, '+inf',
  'WITHSCORES', 'LIMIT', 0, WORKERS_PER_QUEUE_MAX)
local rows = {}
for i = 1, #seen, 2 do
  table.insert(rows, { seen[i], seen[i + 1], redis.call('HGET', K.wstats, seen[i]),
    redis.call('HGET', K.wlabels, seen[i]) })
end
return reply('ok', rows, tonumber(redis.call('HGET', K.stats, 'workers_unlisted')) or 0,
  POLICY.workers_window_ms)
