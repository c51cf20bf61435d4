-- award_fail.lua: the winner's payment was declined (or could not be made): the unit
-- stays set aside, the payment is `unpaid`, and the seller may offer it to the next
-- bidder (auction), draw again (giveaway) or release it.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] the payment attempt   ARGV[2] why (payment_declined, card_required, ...)
-- ARGV[3] event stream length cap
--
-- Returns {'unpaid'} | {'gone'} (not this attempt's any more)
--#include _sale.lua
--#include _award.lua

local a = load_item()
if not a or a.payment ~= 'charging' or a.attempt ~= ARGV[1] then return {'gone'} end
redis.call('HSET', A.item, 'payment', 'unpaid', 'payment_reason', ARGV[2])
redis.call('ZREM', A.due, due_member(a))
emit_status(ARGV[3], a, 'unpaid', {user = a.payee, amount = num(a, 'amount'), reason = ARGV[2]})
return {'unpaid'}
