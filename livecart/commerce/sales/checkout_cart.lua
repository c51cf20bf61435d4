-- checkout_cart.lua: check the cart out, all or nothing. Its units are already held;
-- this checks again what may have changed since they were added (the show is still
-- live, sales are open, the buyer is not banned from it, every flash-priced line's sale
-- is still on), then turns the cart into a checkout hold that the payment confirms or
-- releases. A refusal changes nothing (the cart stays as it was, and expires as usual)
-- and names the line when it is about one.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[13]: this checkout's idempotency key,
--       KEYS[14]: the buyer's cart pointer)
-- ARGV[1]  buyer id
-- ARGV[2]  request fingerprint
-- ARGV[3]  idempotency key (stored in the hold)
-- ARGV[4]  hold seconds
-- ARGV[5]  idempotency ttl, seconds
-- ARGV[6]  optional: the node paying for the hold (livecart.nodes), '' or absent: none
-- ARGV[7]  optional: the order id the hold becomes, '' or absent: none
--
-- Returns {'held', hold JSON} | {'replay', stored outcome JSON} | {'conflict'}
--       | {'refused', code, sku}
--#include _sale.lua

local buyer, fingerprint, idem_key = ARGV[1], ARGV[2], ARGV[3]
local hold_ms, ttl = tonumber(ARGV[4]) * 1000, tonumber(ARGV[5])

local earlier = replay_or_conflict(fingerprint)
if earlier then return earlier end

local function refuse(code, sku)
  return refuse_and_remember(fingerprint, ttl, code, sku)
end

local gate = sales_gate(buyer)
if gate then return refuse(gate, '') end
local cart_id = redis.call('GET', K.cart)
local hold = cart_id and load_hold(cart_id)
if not hold then return refuse('cart_empty', '') end

local now = now_ms()
for _, line in ipairs(hold.lines) do
  if line.flash ~= '' then
    local f = flash_on(line.sku)
    if not f or f.id ~= line.flash or now >= f.ends_ms then
      return refuse('flash_ended', line.sku)
    end
  end
end

hold.kind = 'checkout'
hold.idem = idem_key
hold.expires_ms = now + hold_ms
hold.node = ARGV[6] or ''
hold.order = ARGV[7] or ''
save_hold(hold)
redis.call('DEL', K.cart)
remember(cjson.encode({fp = fingerprint, state = 'pending', hold = hold.id}), ttl)
return {'held', cjson.encode(hold)}
