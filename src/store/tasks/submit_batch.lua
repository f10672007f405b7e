-- submit_batch.lua: adds many tasks in one call, each on its own terms (one may be refused or
-- replayed while the others are created). The server sends at most BATCH_ITEMS_MAX per call.
-- arg: 17 per task, as submit.lua's
-- Returns reply('ok', { { status, value }, ... } in order, the policy's max_attempts).

local results, i = {}, 1
while arg(i) do
  local result = submit_one(arg(i), arg(i + 1), arg(i + 2), arg(i + 3), arg(i + 4), arg(i + 5),
    arg(i + 6), arg(i + 7), arg(i + 8), arg(i + 9), arg(i + 10), arg(i + 11),
    arg(i + 12), arg(i + 13), arg(i + 14), arg(i + 15), arg(i + 16))
  table.insert(results, { result[1], result[2] or false })
  i = i + 17
end
return reply('ok', results, POLICY.max_attempts)
