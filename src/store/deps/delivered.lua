-- delivered.lua: a finished task's outcome has reached every task that waits for it: its
-- outbox entry goes, unless it was entered again since it was read (a redrive and a new
-- finish), which must still go out.
-- arg: 1 task id, 2 the entry's score when it was read
-- Returns reply('ok', 1 removed | 0 kept).

local id = arg(1)
local score = redis.call('ZSCORE', K.outbox, id)
if score and tonumber(score) == tonumber(arg(2)) then
  redis.call('ZREM', K.outbox, id)
  return reply('ok', 1)
end
return reply('ok', 0)
