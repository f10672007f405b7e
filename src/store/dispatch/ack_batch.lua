-- ack_batch.lua: completes many leased tasks in one call, each fenced by its own lease (one
-- may be lost or replayed while the others complete). The server sends at most
-- BATCH_ITEMS_MAX per call.
-- arg: 3 per task, as ack.lua's: task id, lease id, result or ''
-- Returns reply('ok', { { status, value or false }, ... } in order), each as ack.lua answers.

local results, i = {}, 1
while arg(i) do
  local outcome = ack_one(arg(i), arg(i + 1), arg(i + 2))
  table.insert(results, { outcome[1], outcome[2] or false })
  i = i + 3
end
return reply('ok', results)
