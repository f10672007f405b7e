-- ack_one.lua: the one way a task is completed, shared by ack.lua and ack_batch.lua.

-- Completes a leased task, storing the worker's result ('' for none).
-- Returns { 'ok', task } | { 'replayed', task } (this lease already acked it) | { 'lease_lost' }
-- | { 'not_found' } | { 'too_large', the queue's max_payload_bytes } (nothing changed).
local function ack_one(id, lease_id, result)
  if #result > POLICY.max_payload_bytes then
    return { 'too_large', POLICY.max_payload_bytes }
  end
  local meta, status, current = claim_for_finish(id, lease_id, 'ack')
  if not meta then
    if status == 'replayed' then
      return { status, (task_reply(id, current, cjson.encode(current))) }
    end
    return { status }
  end
  release_lease(id, meta, 2)
  meta.acked_by = lease_id
  if result ~= '' then
    redis.call('HSET', K.result, id, result)
  end
  finish(id, meta, 'completed')
  return { 'ok', (task_reply(id, meta, save_meta(id, meta))) }
end
