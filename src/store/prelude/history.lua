-- history.lua: a queue's history, one snapshot per minute in a ring of HISTORY_MINUTES slots
-- (the `history` hash, field = minute mod HISTORY_MINUTES), so its memory is the same after a
-- day as after a year. A snapshot is the queue's running totals (which only grow) and its
-- backlog and in-flight counts as the minute's last sweep saw them:
-- "<minute> <submitted> <completed> <failed> <dead> <expired> <ready> <leased>".
-- A minute's counts are the difference between its snapshot and the one before it, worked out
-- when the history is read: nothing on the task path writes here, only the reaper's sweep.

-- The queue's snapshot now, as the ring keeps it (without its minute).
local function snapshot_now()
  local totals = redis.call('HMGET', K.stats, 'submitted', 'completed', 'failed', 'dead', 'expired')
  local line = {}
  for n = 1, #totals do
    line[n] = string.format('%d', tonumber(totals[n]) or 0)
  end
  table.insert(line, string.format('%d', redis.call('ZCARD', K.ready) + redis.call('ZCARD', K.gready)
    + redis.call('ZCARD', K.rready)))
  table.insert(line, string.format('%d', redis.call('ZCARD', K.leased)))
  return table.concat(line, ' ')
end

-- Writes the snapshot of `minute` (minutes since the epoch) into its slot, replacing whatever
-- minute the slot held a day before.
local function note_snapshot(minute)
  redis.call('HSET', K.history, string.format('%d', minute % HISTORY_MINUTES),
    string.format('%d', minute) .. ' ' .. snapshot_now())
end
