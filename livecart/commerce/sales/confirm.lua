-- confirm.lua: the payment was authorised: turn the hold into an order, in one step
-- with its outbox entry (for webhooks and projections) and its events. Safe to run
-- twice with the same order id: the second run finds the order and changes nothing.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[13]: the hold's idempotency key,
--       KEYS[17]: the order's key)
-- ARGV[1]  hold id
-- ARGV[2]  order id
-- ARGV[3]  the order as JSON, without confirmed_at_ms (added here from Redis TIME);
--          made by the caller from the hold this script checks, with exact totals
-- ARGV[4]  event stream length cap
-- ARGV[5]  optional: the buyer's first name for the `sold` events ('' or absent: none),
--          read from their profile before this script (it lives outside the show's slot)
--
-- Returns {'confirmed', order JSON}
--       | {'gone', code}: the hold was released (it expired, or its payment failed);
--         code is the outcome its key remembers. The caller voids the payment.
--       | {'lost'}: neither the hold nor its key's record of it is here: a failover
--         took back the reserve's writes (replication is asynchronous until a confirm).
--         The tap is undecided: the caller voids the payment and the buyer taps again
--         with the key, which then buys afresh.

local hold_id, order_id, order_body, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local buyer_name = ARGV[5] or ''
--#include _sale.lua

local existing = redis.call('GET', K.order)
if existing then return {'confirmed', existing} end
local hold = load_hold(hold_id)
if not hold then
  local stored = redis.call('GET', K.idem)
  local record = stored and cjson.decode(stored)
  if record and record.hold == hold_id and record.state == 'done'
      and record.result.status == 'refused' then
    return {'gone', record.result.code}
  end
  return {'lost'}
end
if hold.kind ~= 'checkout' then
  return redis.error_reply('ERR hold ' .. hold_id .. ' is a cart, not a checkout')
end

local now = now_ms()
local order = '{"confirmed_at_ms":' .. int(now) .. ',' .. string.sub(order_body, 2)
for _, line in ipairs(hold.lines) do
  redis.call('HINCRBY', K.held, line.sku, -line.qty)
  local sold = redis.call('HINCRBY', K.sold, line.sku, line.qty)
  -- The order and its line's price ride along, so a studio counts orders and revenue
  -- exactly from events (a staff token cannot read the order list).
  local event = {sku = line.sku, quantity = line.qty, sold = sold, order = order_id,
                 unit_price = line.unit, currency = hold.currency}
  if buyer_name ~= '' then event.buyer_name = buyer_name end
  emit(maxlen, 'sold', cjson.encode(event))
end
drop_hold(hold)
redis.call('SET', K.order, order)
redis.call('ZADD', K.orders, now, order_id)
-- Never trimmed here: the order consumers trim what both groups have acknowledged.
redis.call('XADD', K.outbox, '*', 'type', 'order.confirmed', 'order', order)

local stored = redis.call('GET', K.idem)
if stored then
  local record = cjson.decode(stored)
  if record.hold == hold_id then
    record.state = 'done'
    record.result = {status = 'confirmed', order = order_id}
    redis.call('SET', K.idem, cjson.encode(record), 'KEEPTTL')
  end
end
return {'confirmed', order}
