-- refund_order.lua: record a refund the payment provider has made (see _order.lua).
-- The caller holds the order's refund lock (KEYS[20]) while it asks the provider, so
-- two refunds of one order never both pass the check below; this script checks again
-- all the same, and frees the lock.
--
-- An order may be refunded in parts: refunded_total grows by each, never past the
-- total. Fully refunded, its status becomes `refunded`; in part, it keeps its status.
-- A cancelled order has nothing to refund (its authorisation was voided).
--
-- KEYS: the sale keys, see _sale.lua (KEYS[17]: the order's record), then
-- KEYS[20] the order's refund lock
-- ARGV[1]  who (the actor recorded in the history)
-- ARGV[2]  refund id
-- ARGV[3]  amount, minor units (> 0)
-- ARGV[4]  the provider's reference for the refund
-- ARGV[5]  reason ('' when none given)
-- ARGV[6]  event stream length cap
-- ARGV[7]  most refunds one order may have
--
-- Returns {'refunded', order JSON} | {'refused', code, status}
--#include _sale.lua
--#include _order.lua

redis.call('DEL', KEYS[20])
local order, problem = load_movable_order()
if not order then return {'refused', problem, ''} end
local amount = tonumber(ARGV[3])
if order.status == 'cancelled' or order.status == 'refunded' then
  return {'refused', 'nothing_to_refund', order.status}
end
if amount > paid_left(order) then return {'refused', 'refund_exceeds_paid', order.status} end
if type(order.refunds) ~= 'table' then order.refunds = {} end
if #order.refunds >= tonumber(ARGV[7]) then
  return {'refused', 'too_many_refunds', order.status}
end
local now = now_ms()
local refund = {id = ARGV[2], amount = amount, reference = ARGV[4], at_ms = now}
if ARGV[5] ~= '' then refund.reason = ARGV[5] end
order.refunds[#order.refunds + 1] = refund
order.refunded_total = (tonumber(order.refunded_total) or 0) + amount
local to = order.status
if paid_left(order) == 0 then to = 'refunded' end
return {'refunded', transition(order, to, ARGV[1], refund, 'order.refunded', ARGV[6], now)}
