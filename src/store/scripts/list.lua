-- list.lua: one page of the queue's tasks in one state, in that state's own order: ready in
-- lease order (priority, then arrival), scheduled by run time, leased by lease deadline, and
-- completed, dead and cancelled by when they will be purged. Writes nothing.
-- arg: 1 the state (its set's role: ready, scheduled, leased, completed, dead, cancelled),
-- 2 limit, 3 after: the score of the previous page's last member or '', 4 that member
-- Returns reply('ok', { task, ... }, { score, member } of the last task or false when this is
-- the last page). A page also stops at LEASE_REPLY_BYTES_MAX of task data.

local set, limit, after_score, after_member = K[arg(1)], tonumber(arg(2)), arg(3), arg(4)
local min = after_score ~= '' and after_score or '-inf'
-- Members with one score are ordered byte by byte; skipping those up to the last member seen
-- resumes exactly where the previous page ended.
local members = redis.call('ZRANGEBYSCORE', set, min, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 100)
local tasks, bytes, last, more = {}, 0, nil, false
for n = 1, #members, 2 do
  local member, score = members[n], members[n + 1]
  local seen = after_score ~= '' and tonumber(score) == tonumber(after_score) and member <= after_member
  if not seen then
    if #tasks >= limit or bytes >= LEASE_REPLY_BYTES_MAX then
      more = true
      break
    end
    local id = member_id(member)
    local raw = redis.call('HGET', K.meta, id)
    local ok, meta = pcall(cjson.decode, raw or '')
    if ok and type(meta) == 'table' then
      local task, size = task_reply(id, meta, raw)
      table.insert(tasks, task)
      bytes = bytes + size
      last = { score, member }
    end
  end
end
if #members >= 2 * (limit + 100) then
  more = true
end
return reply('ok', tasks, more and last or false)
