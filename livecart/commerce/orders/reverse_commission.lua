-- reverse_commission.lua: take back from a creator the commission of an order that was
-- cancelled or refunded, exactly once per order version, however often or in whatever
-- order the outbox entries arrive.
--
-- The caller says how much of the order's commission is reversed in all once this
-- version is applied (the whole commission for a cancel; for refunds, the commission
-- times refunded_total / total, rounded down per order). This script records only the
-- difference from what the order already had reversed, so rounding never drifts and
-- reversals only ever grow: a version delivered after a later one finds nothing left to
-- take and writes nothing, and a redelivery finds its own entry (or nothing left).
-- The order's credit (apply_commission.lua) must be in the ledger first; without it
-- nothing is reversed. All keys carry the creator's hash tag {c:CREATOR} (one slot), the
-- same three keys apply_commission.lua touches.
--
-- KEYS[1]  ledger hash        lc:{c:CREATOR}:ledger
--            ORDER              -> the credit entry JSON (apply_commission.lua)
--            ORDER.vVERSION     -> this reversal's entry JSON
--            ORDER.reversed     -> commission reversed so far for the order, minor units
-- KEYS[2]  earnings hash      lc:{c:CREATOR}:earnings
--            CURRENCY           -> earned (credits; never decreased)
--            reversed:CURRENCY  -> reversed
-- KEYS[3]  ledger time index  lc:{c:CREATOR}:ledger:by_time   entry field -> time, ms
-- ARGV[1]  order id
-- ARGV[2]  order version (of the cancelled / refunded order)
-- ARGV[3]  currency (ISO 4217)
-- ARGV[4]  commission reversed in all after this version, integer minor units
-- ARGV[5]  the event's time, ms
-- ARGV[6]  the entry JSON without its closing brace; the script appends
--          ,"amount":N,"reversed_total":M}
--
-- Returns the amount reversed now (minor units), 0 when nothing was.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local field = ARGV[1] .. '.v' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 1 then
  return 0
end
local state = ARGV[1] .. '.reversed'
local already = tonumber(redis.call('HGET', KEYS[1], state) or '0')
local due = tonumber(ARGV[4])
local amount = due - already
if amount <= 0 then
  return 0
end
redis.call('HSET', KEYS[1], field,
           ARGV[6] .. string.format(',"amount":%d,"reversed_total":%d}', amount, due),
           state, string.format('%d', due))
redis.call('HINCRBY', KEYS[2], 'reversed:' .. ARGV[3], amount)
redis.call('ZADD', KEYS[3], ARGV[5], field)
return amount
