-- cart_remove.lua: take units of a product out of the buyer's cart; they go back to
-- stock at once. Removing the last unit removes the cart.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[14]: the buyer's cart pointer)
-- ARGV[1]  buyer id
-- ARGV[2]  sku
-- ARGV[3]  quantity to remove (0: the whole line)
-- ARGV[4]  cart hold seconds (refreshed)
-- ARGV[5]  event stream length cap
--
-- Returns {'cart', cart hold JSON or '' when the cart is now empty}
--       | {'refused', code, sku}
--#include _sale.lua

local buyer, sku, qty, cart_ms, maxlen =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]) * 1000, ARGV[5]

-- A sku the show does not sell names nothing: 404, not "not in your cart".
if redis.call('HEXISTS', K.lineup, sku) == 0 then return {'refused', 'unknown_sku', sku} end
local cart_id = redis.call('GET', K.cart)
local hold = cart_id and load_hold(cart_id)
if not hold then return {'refused', 'cart_empty', sku} end
local index
for i, l in ipairs(hold.lines) do
  if l.sku == sku then index = i end
end
if not index then return {'refused', 'not_in_cart', sku} end

local line = hold.lines[index]
local n = line.qty
if qty > 0 and qty < n then n = qty end
give_back({buyer = buyer, lines = {{sku = sku, qty = n, flash = line.flash}}}, maxlen)
line.qty = line.qty - n
if line.qty == 0 then table.remove(hold.lines, index) end

if #hold.lines == 0 then
  drop_hold(hold)
  redis.call('DEL', K.cart)
  return {'cart', ''}
end
hold.expires_ms = now_ms() + cart_ms
save_hold(hold)
return {'cart', cjson.encode(hold)}
