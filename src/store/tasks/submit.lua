-- submit.lua: adds one new task to the queue, ready now or scheduled for later, at most once
-- per idempotency key within the queue's dedup window (see prelude/submit_one.lua).
-- arg: 1 task id, 2 payload (JSON text, stored as given), 3 priority, 4 delay_ms or '',
--      5 run_at (epoch ms) or '', 6 max_attempts or '' (the policy's, whenever it matters),
--      7 lease_ms or '' (none), 8 idempotency key or '', 9 fingerprint of the request or '',
--      10 group or '', 11 start_within_ms or '', 12 requirements ("k=v,k=v") or '',
--      13 debounce key or '', 14 its delay_ms, 15 its max_delay_ms or '',
--      16 its parents (JSON `[[queue, id], ...]`) or '', 17 its on_dependency_failure or ''
-- Returns reply(submit_one's status, its value, the policy's max_attempts).

local result = submit_one(arg(1), arg(2), arg(3), arg(4), arg(5), arg(6), arg(7), arg(8), arg(9), arg(10), arg(11),
  arg(12), arg(13), arg(14), arg(15), arg(16), arg(17))
return reply(result[1], result[2] or false, POLICY.max_attempts)
