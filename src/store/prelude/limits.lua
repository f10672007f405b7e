-- limits.lua: the bounds the scripts enforce. Where Rust has a constant of the same name
-- (store::script::tests checks them), the two must agree.

-- Shape of the task records this version writes; older records are migrated when read.
-- 1: the error history in slots (prelude/record.lua). 2: a record below 2 that has no slots
-- yet may hold the history text written before 1 (version 1 migrated records without saying
-- whether they had one; version 2 marks them, `lh`).
local RECORD_VERSION = 2
-- Failed attempts remembered per task (model::ERROR_HISTORY_MAX).
local ERROR_HISTORY_MAX = 10

-- Work one script call may do, by count and by bytes, so that no call holds Redis for more
-- than a few milliseconds whatever the data looks like. What is left is done by the next call.
-- Measured on a 2-core machine, each expiry, promotion or purge costs 15-25 us of Redis time.
local SWEEP_ITEMS_MAX = 80         -- expiries + promotions + purges + forgotten requests per sweep
local PURGE_BYTES_MAX = 4194304    -- payload and result bytes freed by one sweep
local INLINE_SETTLE_MAX = 20       -- expiries and promotions a lease call settles before leasing
local GROUPS_MENDED_MAX = 20       -- task groups one sweep re-places (prelude/groups.lua)
local WORKERS_PRUNED_MAX = 20      -- silent workers one sweep forgets (prelude/workers.lua)
local LEASE_REPLY_BYTES_MAX = 1048576  -- task bytes one lease call hands out (at least one task)
local BATCH_ITEMS_MAX = 100        -- tasks one submit_batch call adds (store::BATCH_ITEMS_MAX)
-- Minutes of history a queue keeps, one snapshot each (prelude/history.lua; model::HISTORY_MINUTES).
local HISTORY_MINUTES = 1440
-- Workers: how many names one queue keeps (prelude/workers.lua; model::WORKERS_PER_QUEUE_MAX).
-- How long a worker counts as present after its last call is the policy's
-- `workers_window_ms`.
local WORKERS_PER_QUEUE_MAX = 1000
-- Most distinct requirement sets the live tasks of one queue may carry (prelude/requires.lua;
-- model::REQUIREMENT_SETS_MAX).
local REQUIREMENT_SETS_MAX = 64
-- Runs each schedule remembers (schedules/fire.lua; model::LAST_RUNS).
local SCHEDULE_RUNS_KEPT = 10
-- How long a schedule's tick key is kept, ms (schedules/fire.lua; model::SCHEDULE_TICK_KEY_MS).
local SCHEDULE_TICK_KEY_MS = 3600000
-- Dependencies (store/deps; model::dependency): the result bytes a waiting task copies from
-- its parents, how long its links may stay unconfirmed before the sweep makes them, how often
-- the sweep re-checks the parents of a task that still waits, and how long a finished parent's
-- outcome is left to the instance that finished it before the sweep delivers it (all ms but
-- the first).
local DEPENDENCY_RESULTS_MAX_BYTES = 262144
local DEPENDENCY_LINK_GRACE_MS = 5000
local DEPENDENCY_RECHECK_MS = 60000
local OUTBOX_GRACE_MS = 500
-- Outcome bytes one delivery script takes to its children (a page of children is cut to fit).
local OUTBOX_PAGE_BYTES = 4194304
-- Flows (store/flows; model::FLOW_COMMIT_MS): how long a flow may take from its first task
-- stored to its commit. Past it, a flow not committed never will be: its tasks are cancelled.
local FLOW_COMMIT_MS = 60000
