-- release.lua: a hold that will not become an order gives its units back: the payment
-- was declined or failed, the buyer emptied the cart, or the hold expired (any node's
-- reaper). Atomic, so two reapers never return one hold twice: the second finds nothing.
--
-- KEYS: the sale keys, see _sale.lua (KEYS[13]: the hold's idempotency key, if any;
--       KEYS[14]: the buyer's cart pointer)
-- ARGV[1]  hold id
-- ARGV[2]  the outcome to remember for a retry (payment_declined, payment_error,
--          hold_expired)
-- ARGV[3]  '1': only if the hold has expired by Redis TIME (the reaper); '0': now
-- ARGV[4]  event stream length cap
--
-- Returns {'released'} | {'gone'} | {'not_expired'}
--#include _sale.lua

local hold = load_hold(ARGV[1])
if not hold then return {'gone'} end
if ARGV[3] == '1' and hold.expires_ms > now_ms() then return {'not_expired'} end

give_back(hold, ARGV[4])
drop_hold(hold)
if hold.kind == 'cart' then
  if redis.call('GET', K.cart) == hold.id then redis.call('DEL', K.cart) end
else
  local stored = redis.call('GET', K.idem)
  if stored then
    local record = cjson.decode(stored)
    if record.hold == hold.id then
      record.state = 'done'
      record.result = {status = 'refused', code = ARGV[2]}
      redis.call('SET', K.idem, cjson.encode(record), 'KEEPTTL')
    end
  end
end
return {'released'}
