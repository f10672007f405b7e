-- read.lua: a flow's record: `staging <ms>`, `aborted <ms>`, or its JSON once committed.
-- arg: 1 flow
-- Returns reply('ok', record or false).

return reply('ok', redis.call('HGET', K.flows, arg(1)) or false)
