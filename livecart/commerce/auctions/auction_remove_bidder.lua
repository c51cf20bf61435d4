-- auction_remove_bidder.lua: a moderator removes a bidder from a running auction: their
-- maximum is dropped and their later bids refused. When they led, the lead goes to the
-- best remaining maximum, at one step above the next one (or at the start price when
-- nobody else is left to bid against), as proxy bidding would have had it.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] the user   ARGV[2] who removed them   ARGV[3] event stream length cap
--
-- Returns {'removed', view JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local user, maxlen = ARGV[1], ARGV[3]
local a = load_item()
if not a then return missing() end
if a.state ~= 'running' or now_ms() >= num(a, 'ends_ms') then
  return {'refused', 'not_running'}
end
if redis.call('HEXISTS', A.who, user) == 0 then return {'refused', 'not_bidder'} end
redis.call('SADD', A.removed, user)
redis.call('HDEL', A.who, user)
if a.leader == user then
  local first_user, first, second = nil, nil, nil
  local raw = redis.call('HGETALL', A.who)
  for i = 1, #raw, 2 do
    local bid = cjson.decode(raw[i + 1])
    if first == nil or bid.max > first.max or (bid.max == first.max and bid.seq < first.seq) then
      second = first
      first_user, first = raw[i], bid
    elseif second == nil or bid.max > second.max then
      second = bid
    end
  end
  if first == nil then
    a.leader, a.leader_name, a.leader_max, a.price = '', '', '0', '0'
  else
    local start = num(a, 'start_price')
    local price = start
    if second ~= nil then
      price = math.min(first.max, second.max + step_at(cjson.decode(a.increments), second.max))
    end
    a.leader, a.leader_name = first_user, first.name
    a.leader_max, a.price = int(first.max), int(math.max(start, price))
  end
end
a.bidders = int(redis.call('HLEN', A.who))
redis.call('HSET', A.item, 'leader', a.leader, 'leader_name', a.leader_name,
           'leader_max', a.leader_max, 'price', a.price, 'bidders', a.bidders)
emit(maxlen, 'auction_bidder_removed', cjson.encode({auction = a.id, user = user,
     by = ARGV[2], price = num(a, 'price'), leader = nullable(a.leader),
     leader_name = nullable(a.leader_name), next_bid = next_bid(a), bids = num(a, 'bids'),
     bidders = num(a, 'bidders')}))
return {'removed', cjson.encode(auction_view(a))}
