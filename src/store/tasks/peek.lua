-- peek.lua: reads one task as stored, settling nothing and writing nothing. For the periodic
-- re-reads of event streams: a read on a timer that wrote (settled an expiry, migrated or
-- quarantined a record) would make every idle stream a writer. What is due is settled by the
-- reaper, whose change the stream then hears of.
-- arg: 1 task id
-- Returns reply('ok', task) | reply('not_found') | reply('quarantined') (unreadable: the next
-- call that may write moves it aside).

local id = arg(1)
local raw = redis.call('HGET', K.meta, id)
if not raw then
  return reply('not_found')
end
local ok, meta = pcall(cjson.decode, raw)
if not ok or type(meta) ~= 'table' or meta.quarantined then
  return reply('quarantined')
end
return reply('ok', (task_reply(id, meta, raw)))
