-- limits.lua: the bounds the scripts enforce. Where Rust has a constant of the same name
-- (store::script::tests checks them), the two must agree.

-- Shape of the task records this version writes; older records are migrated when read.
local RECORD_VERSION = 1
-- Failed attempts remembered per task (model::ERROR_HISTORY_MAX).
local ERROR_HISTORY_MAX = 10

-- Work one script call may do, by count and by bytes, so that no call holds Redis for more
-- than a few milliseconds whatever the data looks like. What is left is done by the next call.
local RECLAIM_MAX = 200            -- expired leases reclaimed by one sweep
local RECLAIM_BYTES_MAX = 1048576  -- error-history bytes rewritten by one sweep's reclaims
local PROMOTE_MAX = 500            -- due scheduled tasks made ready by one sweep
local PURGE_MAX = 500              -- terminal tasks removed by one sweep
local PURGE_BYTES_MAX = 16777216   -- bytes of payloads, results and histories freed by one sweep
local INLINE_SETTLE_MAX = 50       -- expiries and promotions a lease call settles before leasing
local LEASE_REPLY_BYTES_MAX = 4194304  -- payload bytes one lease call hands out (at least one task)
