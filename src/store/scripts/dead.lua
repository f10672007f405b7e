-- dead.lua: one page of the queue's dead tasks, oldest first (by when they will be purged),
-- each with its error history. Writes nothing.
-- arg: 1 limit, 2 after: the purge time of the previous page's last task or '', 3 its id
-- Returns reply('ok', { task, ... }, { purge time, id } of the last task or false when this is
-- the last page). A page also stops at LEASE_REPLY_BYTES_MAX of task data.

local limit, after_score, after_id = tonumber(arg(1)), arg(2), arg(3)
local min = after_score ~= '' and after_score or '-inf'
-- Tasks dead at the same millisecond share a score; Redis orders them by id, so skipping the
-- ones up to the last id seen resumes exactly where the previous page ended.
local members = redis.call('ZRANGEBYSCORE', K.dead, min, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 100)
local tasks, bytes, last, more = {}, 0, nil, false
for n = 1, #members, 2 do
  local id, score = members[n], members[n + 1]
  local seen = after_score ~= '' and tonumber(score) == tonumber(after_score) and id <= after_id
  if not seen then
    if #tasks >= limit or bytes >= LEASE_REPLY_BYTES_MAX then
      more = true
      break
    end
    local raw = redis.call('HGET', K.meta, id)
    local ok, meta = pcall(cjson.decode, raw or '')
    if ok and type(meta) == 'table' then
      local task, size = task_reply(id, meta, raw)
      table.insert(tasks, task)
      bytes = bytes + size
      last = { score, id }
    end
  end
end
if #members >= 2 * (limit + 100) then
  more = true
end
return reply('ok', tasks, more and last or false)
