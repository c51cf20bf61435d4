-- cart_add.lua: put units of a product in the buyer's cart. The units are held (taken
-- from stock, with the same checks as a tap on Buy) until the cart is checked out,
-- emptied, or left untouched for the cart hold time. A buyer banned from the show is
-- refused ('banned') and nothing is written.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[14]: the buyer's cart pointer)
-- ARGV[1]  buyer id
-- ARGV[2]  hold id to use when the buyer has no cart yet
-- ARGV[3]  cart hold seconds (refreshed by every change)
-- ARGV[4]  most lines in a cart
-- ARGV[5]  most units in one line
-- ARGV[6]  event stream length cap
-- ARGV[7]  affiliate ref (a creator id) or ''
-- ARGV[8]  affiliate window, ms
-- ARGV[9]  sku   ARGV[10] quantity to add   ARGV[11] unit price the buyer saw, or -1
--
-- Returns {'cart', cart hold JSON} | {'refused', code, sku}
--#include _sale.lua

local buyer, new_id, cart_ms = ARGV[1], ARGV[2], tonumber(ARGV[3]) * 1000
local max_lines, max_units, maxlen = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local sku, qty, expected = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])

local gate = sales_gate(buyer)
if gate then return {'refused', gate, sku} end
local now = now_ms()
local code, info = decide_line(buyer, sku, qty, expected, now)
if code then return {'refused', code, sku} end

local cart_id = redis.call('GET', K.cart)
local hold = cart_id and load_hold(cart_id)
if not hold then
  hold = {id = new_id, buyer = buyer, kind = 'cart', idem = '', currency = info.currency,
          brand = redis.call('HGET', K.show, 'brand'), created_ms = now, lines = {}}
elseif hold.currency ~= info.currency then
  return {'refused', 'currency_mismatch', sku}
end

local line
for _, l in ipairs(hold.lines) do
  if l.sku == sku then line = l end
end
if line then
  if line.unit ~= info.unit or line.flash ~= info.flash then
    return {'refused', 'price_changed', sku}
  end
  if line.qty + qty > max_units then return {'refused', 'limit_reached', sku} end
  line.qty = line.qty + qty
else
  if #hold.lines >= max_lines then return {'refused', 'cart_full', sku} end
  table.insert(hold.lines, new_line(sku, qty, info))
end

take(buyer, sku, qty, info.flash)
hold.attribution = attribution(buyer, ARGV[7], tonumber(ARGV[8]), now)
hold.expires_ms = now + cart_ms
save_hold(hold)
redis.call('SET', K.cart, hold.id)
emit_stock(maxlen, sku)
return {'cart', cjson.encode(hold)}
