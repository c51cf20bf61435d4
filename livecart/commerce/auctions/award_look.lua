-- award_look.lua: a look at an auction or giveaway by Redis TIME (the sweep, a read):
-- a running one past its end closes (the winner's payment begins), a payment whose
-- node stopped answering is taken over (same attempt: the provider's idempotency key
-- is the hold id, so it is never charged twice), an offer past its time expires.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] event stream length cap   ARGV[2] payment lease ms
-- ARGV[3] a 52-bit random number (a giveaway's draw)
-- ARGV[4] '1': also take over payments and expire offers (the sweep); '0': close only
--
-- Returns {'charge', view JSON, hold JSON} (the caller charges) | {'seen', view JSON}
--       | {'refused', code}
--#include _sale.lua
--#include _award.lua

local maxlen, lease_ms, rand = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local a = load_item()
if not a then return missing() end
local now = now_ms()
local hold = nil
if a.state == 'running' then
  if a.kind == 'auction' then
    hold = close_auction(a, now, maxlen, lease_ms)
  else
    hold = close_giveaway(a, now, maxlen, lease_ms, rand, false)
  end
  if hold == nil then redis.call('ZADD', A.due, num(a, 'ends_ms'), due_member(a)) end
elseif ARGV[4] == '1' and a.payment == 'charging' and now >= num(a, 'lease_until') then
  hold = start_charge(a, a.payee, a.payee_name or '', num(a, 'amount'), num(a, 'attempt'),
                      now, lease_ms)
elseif ARGV[4] == '1' and a.payment == 'offered' and now >= num(a, 'offer_expires_ms') then
  expire_offer(a, maxlen)
elseif a.payment ~= 'charging' and a.payment ~= 'offered' then
  redis.call('ZREM', A.due, due_member(a))
end
a = load_item()
if hold then return {'charge', cjson.encode(view_of(a)), cjson.encode(hold)} end
return {'seen', cjson.encode(view_of(a))}
