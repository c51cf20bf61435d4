-- cancel_order.lua: the merchant cancels an order before it ships; its units go back
-- to the show's stock in the same step (see _order.lua for the rest).
--
-- Units: sold -> stock per line (stock + held + sold == allocated stays true), the
-- buyer's per-user count shrinks (a cancelled order does not use up a limit), and flash
-- units go back to the flash sale while it is the same sale, as give_back does for a
-- hold. A show that has ended gets its units back all the same: they return to the
-- brand's inventory when the inventory of issue 11 exists, with the show's unsold rest.
-- Nothing is left to refund afterwards: the caller voids the payment's authorisation.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[17]: the order's record)
-- ARGV[1]  who (the actor recorded in the history)
-- ARGV[2]  reason ('' when none given)
-- ARGV[3]  event stream length cap
--
-- Returns {'cancelled', order JSON} | {'refused', code, status}
--#include _sale.lua
--#include _order.lua

local order, problem = load_movable_order()
if not order then return {'refused', problem, ''} end
if order.status ~= 'confirmed' then return {'refused', 'invalid_transition', order.status} end

local current_flash = redis.call('HGET', K.flash, 'id')
for _, line in ipairs(order.lines) do
  local qty = tonumber(line.quantity)
  redis.call('HINCRBY', K.stock, line.sku, qty)
  redis.call('HINCRBY', K.sold, line.sku, -qty)
  redis.call('HINCRBY', K.bought, order.buyer .. '|' .. line.sku, -qty)
  local flash = line.flash_sale
  if type(flash) == 'string' and flash ~= '' then
    redis.call('HINCRBY', K.flash_bought, flash .. '|' .. order.buyer, -qty)
    if flash == current_flash then redis.call('HINCRBY', K.flash, 'remaining', qty) end
  end
  emit_stock(ARGV[3], line.sku)
end
local details = {}
if ARGV[2] ~= '' then details.reason = ARGV[2] end
return {'cancelled', transition(order, 'cancelled', ARGV[1], details, 'order.cancelled',
                                ARGV[3], now_ms())}
