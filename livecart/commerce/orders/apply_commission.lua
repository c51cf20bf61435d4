-- apply_commission.lua: credit one order's commission to its creator, exactly once.
-- The ledger field is keyed by the order id: a second run for the same order (a
-- redelivery, a reclaim after a crash, two nodes at once) finds it and changes nothing.
-- All three keys carry the creator's hash tag {c:CREATOR} (one Cluster slot).
--
-- KEYS[1]  ledger hash        lc:{c:CREATOR}:ledger           order id -> entry JSON
-- KEYS[2]  earnings hash      lc:{c:CREATOR}:earnings         currency -> total, minor units
-- KEYS[3]  ledger time index  lc:{c:CREATOR}:ledger:by_time   order id -> confirmed_at_ms
-- ARGV[1]  order id
-- ARGV[2]  ledger entry JSON
-- ARGV[3]  currency (ISO 4217)
-- ARGV[4]  commission, integer minor units
-- ARGV[5]  the order's confirmation time, ms (orders the ledger for reading)
--
-- Returns 1 when the order was credited now, 0 when it had been already.

if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return 1
