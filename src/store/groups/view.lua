-- view.lua: task groups as the API shows them (prelude/group_view.lua), one by name or a page
-- of the groups listed in `gnames` (those with live tasks or overrides) in name order. Writes
-- nothing.
-- arg: 1 'one' and 2 the group; or 1 'page', 2 the name the page starts after or '', 3 limit
-- Returns reply('ok', { group, ... }, whether more groups follow: 1 or 0).

if arg(1) == 'one' then
  return reply('ok', { group_view(arg(2)) }, 0)
end
local after, limit = arg(2), tonumber(arg(3))
local from = after == '' and '-' or '(' .. after
local names = redis.call('ZRANGE', K.gnames, from, '+', 'BYLEX', 'LIMIT', 0, limit + 1)
local groups = {}
for n = 1, math.min(limit, #names) do
  table.insert(groups, group_view(names[n]))
end
return reply('ok', groups, #names > limit and 1 or 0)
