-- get.lua: reads one task, all of its parts from one consistent moment. Writes nothing.
-- KEYS, ARGV 1..11: see prelude.lua.
-- arg: 1 task id
-- Returns { 'ok', now, task } or { 'not_found', now }.

local id = arg(1)
local now = now_ms()
local _, raw = load_meta(id)
if not raw then
  return { 'not_found', now }
end
return { 'ok', now, task_reply(id, raw) }
