-- ack.lua: completes a leased task, storing the worker's result.
-- Two scripts come from this file: one without a result may run when Redis is out of memory
-- (it only shrinks state); the one with a result may not.
-- arg: 1 task id, 2 lease id, 3 result (JSON text, stored as given) or '' (none)
-- Returns reply('ok', task) | reply('replayed', task) (this lease already acked it)
--       | reply('lease_lost') | reply('not_found')
--       | reply('too_large', the queue's max_payload_bytes) (nothing changed).

local outcome = ack_one(arg(1), arg(2), arg(3))
return reply(outcome[1], outcome[2])
