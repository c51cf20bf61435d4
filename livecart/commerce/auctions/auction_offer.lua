-- auction_offer.lua: the winner did not pay; the seller offers the item to the next
-- bidder (highest maximum, earlier first; never one offered before, the winner or a
-- removed bidder) at that bidder's maximum, for a limited time (second-chance offer).
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] how long the offer stands, ms   ARGV[2] event stream length cap
--
-- Returns {'offered', offer JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local a = load_item()
if not a then return missing() end
if a.payment ~= 'unpaid' then return {'refused', 'not_unpaid'} end
local offered = cjson.decode(a.offered or '[]')
local skip = {[a.winner] = true}
for _, user in ipairs(offered) do skip[user] = true end
local best_user, best = nil, nil
local raw = redis.call('HGETALL', A.who)
for i = 1, #raw, 2 do
  local user, bid = raw[i], cjson.decode(raw[i + 1])
  if not skip[user] and redis.call('SISMEMBER', A.removed, user) == 0 and
     (best == nil or bid.max > best.max or (bid.max == best.max and bid.seq < best.seq)) then
    best_user, best = user, bid
  end
end
if not best_user then return {'refused', 'no_runner_up'} end
table.insert(offered, best_user)
local now = now_ms()
local expires = now + tonumber(ARGV[1])
local attempt = num(a, 'attempt') + 1
redis.call('HSET', A.item, 'offered', cjson.encode(offered), 'payment', 'offered',
           'payee', best_user, 'payee_name', best.name, 'amount', int(best.max),
           'attempt', int(attempt), 'offer_expires_ms', int(expires))
redis.call('ZADD', A.due, expires, due_member(a))
local offer = {user = best_user, name = best.name, amount = best.max, expires_ms = expires}
emit_status(ARGV[2], a, 'offered', {user = best_user, name = best.name,
            amount = best.max, expires_ms = expires})
return {'offered', cjson.encode(offer)}
