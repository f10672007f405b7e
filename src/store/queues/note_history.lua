-- note_history.lua: writes the queue's snapshot for a given minute, as the reaper's sweep does
-- for the current one. For tools and tests that fill a history (the sweep is the writer in
-- service).
-- arg: 1 minute (minutes since the epoch)
-- Returns reply('ok').

note_snapshot(tonumber(arg(1)))
return reply('ok')
