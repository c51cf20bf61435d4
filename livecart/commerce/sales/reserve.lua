-- reserve.lua: one tap on Buy. Decides, in one atomic step against Redis TIME, that the
-- show is live, sales are open, the product is in the lineup, the flash-sale window and
-- price hold, the per-buyer limits allow it and the stock is there; then holds the units
-- and remembers the outcome under the buyer's idempotency key. A retry with the same key
-- gets the first outcome back; the same key with other parameters is a conflict. A buyer
-- banned from the show is refused ('banned'), remembered like any refusal.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[13]: this buy's idempotency key)
-- ARGV[1]  buyer id
-- ARGV[2]  hold id to use (made by the caller)
-- ARGV[3]  request fingerprint (same key + other parameters = conflict)
-- ARGV[4]  idempotency key (stored in the hold, so a release can settle it)
-- ARGV[5]  hold seconds (the payment must be confirmed before then)
-- ARGV[6]  idempotency ttl, seconds
-- ARGV[7]  event stream length cap
-- ARGV[8]  affiliate ref (a creator id) or ''
-- ARGV[9]  affiliate window, ms
-- ARGV[10] sku   ARGV[11] quantity   ARGV[12] unit price the buyer saw, or -1
-- ARGV[13] optional: the node paying for the hold (livecart.nodes), '' or absent: none
-- ARGV[14] optional: the order id the hold becomes, '' or absent: none. With the node,
--          a survivor settles the hold by the provider's word if that node dies.
--
-- Returns {'held', hold JSON} | {'replay', stored outcome JSON} | {'conflict'}
--       | {'refused', code, sku}
--#include _sale.lua

local buyer, hold_id, fingerprint, idem_key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hold_ms, ttl, maxlen = tonumber(ARGV[5]) * 1000, tonumber(ARGV[6]), ARGV[7]
local sku, qty, expected = ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])

local earlier = replay_or_conflict(fingerprint)
if earlier then return earlier end

local function refuse(code)
  return refuse_and_remember(fingerprint, ttl, code, sku)
end

local gate = sales_gate(buyer)
if gate then return refuse(gate) end
local now = now_ms()
local code, line = decide_line(buyer, sku, qty, expected, now)
if code then return refuse(code) end

take(buyer, sku, qty, line.flash)
local hold = {
  id = hold_id, buyer = buyer, kind = 'checkout', idem = idem_key,
  brand = redis.call('HGET', K.show, 'brand'),
  currency = line.currency, created_ms = now, expires_ms = now + hold_ms,
  attribution = attribution(buyer, ARGV[8], tonumber(ARGV[9]), now),
  lines = {new_line(sku, qty, line)},
  node = ARGV[13] or '', order = ARGV[14] or '',
}
save_hold(hold)
remember(cjson.encode({fp = fingerprint, state = 'pending', hold = hold_id}), ttl)
emit_stock(maxlen, sku)
return {'held', cjson.encode(hold)}
