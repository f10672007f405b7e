-- drop.lua: deletes the whole queue: every task in every state, its counters and its policy.
-- UNLINK frees large keys on Redis's background thread, so this call stays short whatever the
-- queue holds. Workers still holding its leases get 404 for their tasks from then on.
-- arg: none
-- Returns reply('ok', keys deleted).

local deleted = 0
for role, key in pairs(K) do
  if role ~= 'events' then
    deleted = deleted + redis.call('UNLINK', key)
  end
end
return reply('ok', deleted)
