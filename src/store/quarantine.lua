-- quarantine.lua: moves records the server found unreadable (a payload, result or error history
-- that is not valid JSON) out of every index into the quarantine set, so no call fails on them
-- again, and out of their group's and requirement set's bookkeeping (prelude/groups.lua,
-- prelude/requires.lua). Their data stays until the
-- queue's dead-task retention has passed.
-- arg: pairs of (task id, why)
-- Returns reply('ok').

local i = 1
while arg(i) do
  local id, why = arg(i), arg(i + 1)
  local raw = redis.call('HGET', K.meta, id)
  if raw then
    local ok, meta = pcall(cjson.decode, raw)
    -- Its ready-set member, should it be ready: `<seq>:<id>`, or the bare id of a record
    -- written before version 1 (removing a member that is not there is harmless).
    local member = id
    local first_time = not redis.call('ZSCORE', K.quarantine, id)
    if ok and type(meta) == 'table' then
      -- Read as stored, not normalized: a priority of 0 is not stored (prelude/record.lua).
      if meta.priority == nil then
        meta.priority = 0
      end
      if type(meta.seq) == 'string' then
        member = meta.seq .. ':' .. id
      end
      meta.quarantined = why
      save_meta(id, meta)
    end
    quarantine(id, why, member)
    if first_time and ok and type(meta) == 'table' and type(meta.group) == 'string' then
      group_quarantined(id, meta)
    end
    if first_time and ok and type(meta) == 'table' and type(meta.dkey) == 'string' then
      debounce_released(id, meta) -- a debounced task put aside lets go of its key
    end
    if first_time and ok and type(meta) == 'table' and type(meta.rset) == 'string' then
      -- A live task with requirements leaves its set as a finished one does.
      if meta.state == 'ready' and not meta.group and type(meta.seq) == 'string'
          and tonumber(meta.priority) then
        redis.call('ZREM', K.rready, req_member(id, meta))
      end
      if meta.state == 'ready' or meta.state == 'scheduled' or meta.state == 'leased'
          or meta.state == 'waiting' then
        requires_left(meta.rset)
      end
    end
  end
  i = i + 2
end
return reply('ok')
