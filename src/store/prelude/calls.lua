-- calls.lua: `run_calls`, the function Redis calls (store/script.rs registers it): makes the
-- call's frame, runs the calls this script call carries, each as the script's body (`call`),
-- and answers one reply per call, in order. A call that raises
-- an error answers { '!error', why } and the others still run: concurrent callers that travel
-- together never fail each other. (As with any script, what a call wrote before its error
-- stays written.) Then what pieces gathered for all the calls is written (`at_call_end`, in
-- prelude/base.lua), and the events of all the calls go out as one message at the end.

local function run_calls(keys, args)
  KEYS, ARGV = keys, args
  begin_call()
  local replies = {}
  local cursor = #POLICY_FIELDS + 2 -- the number of calls
  for c = 1, tonumber(ARGV[cursor]) do
    cursor = cursor + 1 -- this call's number of arguments; its arguments follow
    ARG_BASE, ARG_COUNT = cursor, tonumber(ARGV[cursor])
    QUARANTINED, UNSTARTED = {}, 0
    local ok, answer = pcall(call)
    if not ok then
      answer = { '!error', type(answer) == 'table' and tostring(answer.err) or tostring(answer) }
    end
    replies[c] = answer
    cursor = cursor + ARG_COUNT
  end
  end_call()
  publish_events()
  -- What this call was sent (up to a batch's payloads) is not kept until the next call (but
  -- for a call that failed before here, whose tables the next one replaces).
  KEYS, ARGV, EVENTS = nil, nil, nil
  return replies
end
