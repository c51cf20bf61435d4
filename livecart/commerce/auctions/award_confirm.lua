-- award_confirm.lua: the winner's payment was authorised (or there was nothing to pay):
-- the unit set aside is sold (held -> sold), the order is written with its outbox
-- entry, and the `sold` and staff `*_status` events appended, in one step. Safe to run
-- twice with the same order id (the order id is made from the item and the attempt):
-- the second run finds the order and changes nothing.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[17]: the order's key), then the award keys
-- ARGV[1] order id   ARGV[2] the order JSON without confirmed_at_ms
-- ARGV[3] event stream length cap   ARGV[4] the buyer's display name ('' for none)
-- ARGV[5] the payment attempt this order is for
--
-- Returns {'confirmed', order JSON} | {'gone'} (no longer this attempt's to confirm:
-- the caller voids the payment)
--#include _sale.lua
--#include _award.lua

local order_id, maxlen, buyer_name = ARGV[1], ARGV[3], ARGV[4]
local existing = redis.call('GET', K.order)
if existing then return {'confirmed', existing} end
local a = load_item()
if not a or a.payment ~= 'charging' or a.attempt ~= ARGV[5] then return {'gone'} end

local now = now_ms()
local order = '{"confirmed_at_ms":' .. int(now) .. ',' .. string.sub(ARGV[2], 2)
redis.call('HINCRBY', K.held, a.sku, -1)
local sold = redis.call('HINCRBY', K.sold, a.sku, 1)
local card = cjson.decode(a.card)
local event = {sku = a.sku, quantity = 1, sold = sold, order = order_id,
               unit_price = num(a, 'amount'), currency = card.currency}
event[a.kind] = a.id
if buyer_name ~= '' then event.buyer_name = buyer_name end
emit(maxlen, 'sold', cjson.encode(event))
redis.call('SET', K.order, order)
redis.call('ZADD', K.orders, now, order_id)
redis.call('XADD', K.outbox, '*', 'type', 'order.confirmed', 'order', order)
redis.call('HSET', A.item, 'payment', 'paid', 'order', order_id)
redis.call('ZREM', A.due, due_member(a))
emit_status(maxlen, a, 'paid', {user = a.payee, amount = num(a, 'amount'), order = order_id})
return {'confirmed', order}
