-- auction_accept.lua: the bidder offered a second chance takes it, before it expires
-- (by Redis TIME): their payment begins.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] the user   ARGV[2] payment lease ms   ARGV[3] event stream length cap
--
-- Returns {'charge', view JSON, hold JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local user, maxlen = ARGV[1], ARGV[3]
local a = load_item()
if not a then return missing() end
if a.payment ~= 'offered' or a.payee ~= user then return {'refused', 'not_offered'} end
local now = now_ms()
if now >= num(a, 'offer_expires_ms') then
  expire_offer(a, maxlen)
  return {'refused', 'offer_expired'}
end
local hold = start_charge(a, user, a.payee_name or '', num(a, 'amount'), num(a, 'attempt'),
                         now, tonumber(ARGV[2]))
emit_status(maxlen, a, 'accepted', {user = user, amount = num(a, 'amount')})
return {'charge', cjson.encode(view_of(load_item())), cjson.encode(hold)}
