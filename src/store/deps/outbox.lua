-- outbox.lua: reads one finished task's outcome and a page of the tasks that wait for it, for
-- the server to deliver (resolve.lua, in each child's slot). An entry whose task is no longer
-- finished (redriven before its outcome went out) is dropped: its next finish enters it again.
-- arg: 1 task id, 2 the last child member of the previous page or '', 3 page size
-- Returns reply('ok', false) (nothing to deliver)
--       | reply('ok', score, outcome, { child queue, child id, ... }, next member or false).

local id, after, page = arg(1), arg(2), tonumber(arg(3))
local score = redis.call('ZSCORE', K.outbox, id)
if not score then
  return reply('ok', false)
end
local meta = load_task(id)
local outcome = 'gone'
if meta then
  outcome = finished_outcome(id, meta)
end
if not outcome then
  redis.call('ZREM', K.outbox, id)
  return reply('ok', false)
end
-- A page carries the outcome once per child: a large result makes for fewer children a page.
page = math.max(1, math.min(page, math.floor(OUTBOX_PAGE_BYTES / #outcome)))
local from = after ~= '' and '(' .. after or '[' .. id .. ' '
local members = redis.call('ZRANGE', K.kids, from, '(' .. id .. '!', 'BYLEX', 'LIMIT', 0, page)
local children = {}
for _, member in ipairs(members) do
  local queue, child = string.match(member, '^%S+ (%S+) (%S+)$')
  if queue then
    table.insert(children, queue)
    table.insert(children, child)
  end
end
return reply('ok', score, outcome, children, #members == page and members[#members] or false)
