-- record.lua: reading and writing task records defensively.
--
-- A task is one field, keyed by its id, in each of the queue's hashes `meta` (JSON metadata),
-- `payload` and `result` (JSON text exactly as received), plus up to ERROR_HISTORY_MAX fields
-- of `errors` (see `history`). Metadata is read defensively: a missing counter is 0, a
-- missing optional field is absent, a record written before versions existed is migrated. A
-- record that cannot be used at all (not JSON, a field of the wrong type, an unknown state) is
-- moved to the queue's quarantine set, reported once, and never fails a call again.

local STATES = {
  waiting = true, scheduled = true, ready = true, leased = true, completed = true, dead = true, cancelled = true,
}
local NUMBER_FIELDS = {
  'v', 'priority', 'attempts', 'max_attempts', 'attempts_expired', 'attempts_failed',
  'created_at', 'run_at', 'leased_until', 'lease_len', 'lease_ms', 'finished_at', 'hist',
  'prog', 'prog_at', 'start_ms', 'start_by', 'dn', 'dwait', 'dbytes', 'kids', 'lh',
}
local STRING_FIELDS = { 'state', 'seq', 'lease_id', 'worker', 'acked_by', 'quarantined', 'group', 'gseq',
  'rset', 'dkey', 'dfail' }
-- Index sets a task id can be a member of as itself (ready members carry an arrival prefix).
local ID_SETS = { 'scheduled', 'leased', 'completed', 'dead', 'cancelled', 'ready_time', 'deadlines',
  'dlink' }

-- The first of `fields` in `meta` that is not of `kind` (JSON nulls are dropped on the way),
-- and whether a null was dropped. A plain function, not a closure made per call: this runs for
-- every task a script reads.
local function wrong_field(meta, fields, kind)
  local dropped = false
  for i = 1, #fields do
    local name = fields[i]
    local value = meta[name]
    if value == cjson.null then
      meta[name], dropped = nil, true
    elseif value ~= nil and type(value) ~= kind then
      return name .. ' is not a ' .. kind, dropped
    end
  end
  return nil, dropped
end

-- Whether `text` is a requirement set as the server writes it: "name=value" pairs joined by
-- ',' (model::Requires), so the scripts and the server read it alike.
local function requirement_set(text)
  for pair in string.gmatch(text .. ',', '([^,]*),') do
    if not string.match(pair, '^[%w._/-]+=[%w._:@/-]+$') then
      return false
    end
  end
  return true
end

-- Brings decoded metadata to the current shape. Returns the table and whether it changed, or
-- nil and why the record cannot be used.
local function normalize(meta)
  if type(meta) ~= 'table' then
    return nil, 'metadata is not a JSON object'
  end
  local wrong, dropped_number = wrong_field(meta, NUMBER_FIELDS, 'number')
  if wrong then
    return nil, wrong
  end
  local wrong_string, dropped_string = wrong_field(meta, STRING_FIELDS, 'string')
  if wrong_string then
    return nil, wrong_string
  end
  local changed = dropped_number or dropped_string
  if meta.quarantined then
    return nil, meta.quarantined
  end
  if meta.rset and not requirement_set(meta.rset) then
    return nil, 'rset is not a requirement set'
  end
  local state = meta.state
  if not STATES[state] then
    return nil, 'unknown state ' .. tostring(state)
  end
  -- A priority or a counter that is 0 is not stored (`save_meta`): filling it in is reading
  -- the record, not changing it.
  local p = meta.priority
  if p == nil then
    meta.priority, p = 0, 0
  end
  if p ~= math.floor(p) or p < -1000 or p > 1000 then
    return nil, 'priority out of range'
  end
  if meta.attempts == nil then meta.attempts = 0 end
  if meta.attempts_expired == nil then meta.attempts_expired = 0 end
  if meta.attempts_failed == nil then meta.attempts_failed = 0 end
  -- Fields a record may lack only if an older version or a hand wrote it.
  if meta.created_at == nil then meta.created_at, changed = 0, true end
  if meta.run_at == nil then meta.run_at, changed = meta.created_at, true end
  if state == 'leased' then
    -- A lease without a deadline cannot be trusted to be live: it counts as expired.
    if meta.leased_until == nil then meta.leased_until, changed = 0, true end
    if meta.lease_len == nil then meta.lease_len, changed = meta.lease_ms or POLICY.lease_ms, true end
  elseif state == 'completed' or state == 'dead' or state == 'cancelled' then
    if meta.finished_at == nil then meta.finished_at, changed = meta.run_at, true end
  end
  if (meta.v or 0) < RECORD_VERSION then
    -- Its history, if it has one and no slots yet, may be the one text in the field "<id>"
    -- written before version 1 (see `history`) until a failure moves it into slots: `lh`
    -- says to look there.
    if (meta.hist or 0) == 0 then
      meta.lh = 1
    end
    meta.v, changed = RECORD_VERSION, true
  end
  return meta, changed
end

-- Ready tasks are ordered by priority, then arrival. The score is -priority (lowest first);
-- among equal scores Redis orders members byte by byte, so each member starts with a
-- fixed-width arrival number: "<16 hex digits>:<id>". The arrival counter is a 64-bit Redis
-- integer and never wraps; Lua reads it exactly up to 2^53 (285 years at a million per second).
-- A ready task written before version 1 has no `seq`: its member is its bare id.
local function ready_member(id, meta)
  if meta.seq == nil then
    return id
  end
  return meta.seq .. ':' .. id
end

-- The task id of a ready-set member (members written before version 1 are bare ids).
local function member_id(member)
  if string.sub(member, 17, 17) == ':' then
    return string.sub(member, 18)
  end
  return member
end

-- Stores a task's metadata and returns the JSON text stored. A priority or counter that is 0
-- is left out (`normalize` reads it back as 0, as the server and older versions do): most
-- records hold several, and every change of state encodes and stores the record again.
local function save_meta(id, meta)
  local p, a, ae, af = meta.priority, meta.attempts, meta.attempts_expired, meta.attempts_failed
  if p == 0 then meta.priority = nil end
  if a == 0 then meta.attempts = nil end
  if ae == 0 then meta.attempts_expired = nil end
  if af == 0 then meta.attempts_failed = nil end
  local raw = cjson.encode(meta)
  meta.priority, meta.attempts, meta.attempts_expired, meta.attempts_failed = p, a, ae, af
  redis.call('HSET', K.meta, id, raw)
  return raw
end

-- Moves a task out of every index into the quarantine set; its data stays for inspection and
-- is removed after the queue's dead-task retention. `member` is its ready-set member, if known.
local function quarantine(id, why, member)
  for _, role in ipairs(ID_SETS) do
    redis.call('ZREM', K[role], id)
  end
  if member then
    redis.call('ZREM', K.ready, member)
  end
  if redis.call('ZADD', K.quarantine, now, id) == 1 then
    redis.call('HINCRBY', K.stats, 'quarantined', 1)
    table.insert(QUARANTINED, id .. ': ' .. why)
  end
end

-- Loads a task. Returns its metadata and the stored JSON text (nil when normalizing changed
-- it), or nil and 'not_found' or 'quarantined'. `member` is its ready-set member, if known.
local function load_task(id, member)
  local raw = redis.call('HGET', K.meta, id)
  if not raw then
    return nil, 'not_found'
  end
  local ok, decoded = pcall(cjson.decode, raw)
  -- normalize answers (meta, changed) or (nil, why).
  local meta, changed_or_why = nil, 'metadata is not valid JSON'
  if ok then
    meta, changed_or_why = normalize(decoded)
  end
  if not meta then
    quarantine(id, changed_or_why, member)
    return nil, 'quarantined'
  end
  -- Just migrated (`normalize` marked it `lh`): whether it has an old text is known here,
  -- once, rather than looked for at every read until a failure moves it.
  if meta.lh and changed_or_why and redis.call('HEXISTS', K.errors, id) == 0 then
    meta.lh = nil
  end
  return meta, (not changed_or_why) and raw or nil
end

-- A task's error history: its failed attempts, newest last, at most ERROR_HISTORY_MAX of them.
-- Each entry is one JSON object in its own field of the `errors` hash, "<id>#<slot>", the
-- slots 1..ERROR_HISTORY_MAX used in turn (meta.hist counts entries ever written). So adding
-- an entry writes only that entry, never the whole history, and erasing a task's history is
-- always the same ERROR_HISTORY_MAX fields. (Records before version 1 kept the whole history
-- in the field "<id>".)
local function history_slot(id, n)
  return id .. '#' .. string.format('%d', (n - 1) % ERROR_HISTORY_MAX + 1)
end

-- Every field a task's history may use, for erasing it.
local function history_fields(id)
  local fields = { id }
  for slot = 1, ERROR_HISTORY_MAX do
    table.insert(fields, id .. '#' .. slot)
  end
  return fields
end

-- Whether a task's history may still be the text written before version 1 (`lh`, set when
-- `normalize` migrated the record; a reader that does not normalize sees the old version).
local function legacy_history(meta)
  return (meta.hist or 0) == 0 and (meta.lh or (meta.v or 0) < RECORD_VERSION)
end

-- The history's entries, oldest first, as stored (or the legacy text, or false). A record of
-- this version with no entries has none to read.
local function history(id, meta)
  local written = meta.hist or 0
  if written == 0 then
    return legacy_history(meta) and redis.call('HGET', K.errors, id) or false
  end
  local fields = {}
  for n = math.max(1, written - ERROR_HISTORY_MAX + 1), written do
    table.insert(fields, history_slot(id, n))
  end
  return redis.call('HMGET', K.errors, unpack(fields))
end

-- A task's dependencies (store/deps) as a reply: { parent queue, parent id, outcome or false,
-- ... } in the order it named them, where the outcome is what was delivered (`<state>`,
-- `<state> <result>`, `<state>+` for a result left out); and their size in bytes. A list that
-- does not read (a hand-edited field) is shown as none, not failed on.
local function dependencies(id)
  local ok, parents = pcall(cjson.decode, redis.call('HGET', K.parents, id) or '[]')
  if not ok or type(parents) ~= 'table' or #parents == 0 then
    return {}, 0
  end
  local fields = {}
  for i, parent in ipairs(parents) do
    fields[i] = id .. ' ' .. tostring(parent[1]) .. ' ' .. tostring(parent[2])
  end
  local outcomes = redis.call('HMGET', K.depres, unpack(fields))
  local flat, bytes = {}, 0
  for i, parent in ipairs(parents) do
    local outcome = outcomes[i] or false
    table.insert(flat, tostring(parent[1]))
    table.insert(flat, tostring(parent[2]))
    table.insert(flat, outcome)
    bytes = bytes + #fields[i] + (outcome and #outcome or 0)
  end
  return flat, bytes
end

-- Whether a kept outcome (`depres`) says how a parent ended: one that does not (a hand-edited
-- field) counts as not heard, so the parent's outcome is still taken when it comes.
local HEARD = { completed = true, dead = true, cancelled = true, gone = true }
local function heard(outcome)
  return outcome and HEARD[string.match(outcome, '^(%a+)')] or false
end

-- The parents a waiting task has not heard from: { queue, id, ... }.
local function unheard_parents(id)
  local all = dependencies(id)
  local unheard = {}
  for i = 1, #all, 3 do
    if not heard(all[i + 2]) then
      table.insert(unheard, all[i])
      table.insert(unheard, all[i + 1])
    end
  end
  return unheard
end

-- One task as a reply: { id, meta JSON, payload, result or false, history, the queue's
-- max_attempts (for a task without its own), progress or false, dependencies or false }, and
-- its size in bytes.
-- A progress report is the attempt's that sent it (meta.prog): an earlier attempt's is left
-- unread rather than deleted at each lease, so leasing costs nothing for it.
local function task_reply(id, meta, meta_json)
  local payload = redis.call('HGET', K.payload, id)
  -- Only an ack stores a result, and nothing takes a completed task out of `completed`.
  local result = meta.state == 'completed' and redis.call('HGET', K.result, id)
  -- false, never nil, for what is not there: a nil would end the reply's list early.
  local progress = meta.prog ~= nil and meta.prog == (meta.attempts or 0)
    and redis.call('HGET', K.progress, id)
  local entries = history(id, meta)
  local bytes = #meta_json + (payload and #payload or 0) + (result and #result or 0)
    + (progress and #progress or 0)
  if type(entries) == 'table' then
    for _, entry in ipairs(entries) do
      bytes = bytes + (entry and #entry or 0)
    end
  elseif entries then
    bytes = bytes + #entries
  end
  local parents = false
  if meta.dn then
    local parent_bytes
    parents, parent_bytes = dependencies(id)
    bytes = bytes + parent_bytes
  end
  return { id, meta_json, payload, result, entries, POLICY.max_attempts, progress, parents }, bytes
end

local function write_history_entry(id, meta, entry)
  meta.hist = (meta.hist or 0) + 1
  redis.call('HSET', K.errors, history_slot(id, meta.hist), entry)
end

-- Appends one failed attempt to the task's error history.
local function append_history(id, meta, kind, message, lease_id)
  if legacy_history(meta) then
    -- A history written before version 1 (one JSON array, or lines) moves into slots.
    meta.lh = nil
    local legacy = redis.call('HGET', K.errors, id)
    if legacy then
      redis.call('HDEL', K.errors, id)
      local ok, old = pcall(cjson.decode, legacy)
      if ok and type(old) == 'table' then
        for _, item in ipairs(old) do
          write_history_entry(id, meta, cjson.encode(item))
        end
      else
        for line in string.gmatch(legacy, '[^\n]+') do
          write_history_entry(id, meta, line)
        end
      end
    end
  end
  local entry = '{"attempt":' .. string.format('%d', meta.attempts) .. ',"at":'
    .. string.format('%d', now) .. ',"kind":"' .. kind .. '","message":' .. cjson.encode(message)
  if lease_id then
    entry = entry .. ',"lease":' .. cjson.encode(lease_id)
  end
  write_history_entry(id, meta, entry .. '}')
end

-- Removes a task's data from every hash; returns the payload and result bytes freed (a
-- history is at most ERROR_HISTORY_MAX entries of a few KiB).
local function erase(id)
  local bytes = redis.call('HSTRLEN', K.payload, id) + redis.call('HSTRLEN', K.result, id)
  redis.call('HDEL', K.payload, id)
  redis.call('HDEL', K.result, id)
  redis.call('HDEL', K.progress, id)
  redis.call('HDEL', K.meta, id)
  redis.call('HDEL', K.errors, unpack(history_fields(id)))
  return bytes
end

-- True when `lease_id` failed an attempt of this task that its history still remembers.
local function history_has_failed_lease(id, meta, lease_id)
  local entries = history(id, meta)
  if type(entries) ~= 'table' then
    entries = { entries }
  end
  local needle = '"lease":' .. cjson.encode(lease_id)
  for _, entry in ipairs(entries) do
    if entry and string.find(entry, needle, 1, true) then
      return true
    end
  end
  return false
end
