-- deliver_order.lua: a fulfilled order has reached its buyer (see _order.lua).
--
-- KEYS: the sale keys, see _sale.lua (KEYS[17]: the order's record)
-- ARGV[1]  who (the actor recorded in the history)
-- ARGV[2]  event stream length cap
--
-- Returns {'delivered', order JSON} | {'refused', code, status}
--#include _sale.lua
--#include _order.lua

local order, problem = load_movable_order()
if not order then return {'refused', problem, ''} end
if order.status ~= 'fulfilled' then return {'refused', 'invalid_transition', order.status} end
return {'delivered', transition(order, 'delivered', ARGV[1], {}, 'order.delivered', ARGV[2],
                                now_ms())}
