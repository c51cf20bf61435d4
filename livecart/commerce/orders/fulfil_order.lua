-- fulfil_order.lua: the merchant ships a confirmed order: carrier and tracking kept on
-- the order, history entry, `order_status` event and `order.fulfilled` outbox entry in
-- one step (see _order.lua). Only a confirmed order (refunded in part or not) ships.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[17]: the order's record)
-- ARGV[1]  who (the actor recorded in the history: "merchant")
-- ARGV[2]  fulfilment JSON {carrier, tracking_number, tracking_url}, checked by the caller
-- ARGV[3]  event stream length cap
--
-- Returns {'fulfilled', order JSON} | {'refused', code, status}
--#include _sale.lua
--#include _order.lua

local order, problem = load_movable_order()
if not order then return {'refused', problem, ''} end
if order.status ~= 'confirmed' then return {'refused', 'invalid_transition', order.status} end
local fulfilment = cjson.decode(ARGV[2])
order.fulfilment = fulfilment
return {'fulfilled', transition(order, 'fulfilled', ARGV[1], fulfilment, 'order.fulfilled',
                                ARGV[3], now_ms())}
