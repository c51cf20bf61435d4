-- auction_bid.lua: one bid, decided against Redis TIME in one step: the auction is
-- open (a bid at or after its end is refused, and closes it), the bidder may bid
-- (not banned, not removed, sales not paused), the amount reaches the next bid; then
-- proxy bidding settles who leads and at what price (eBay's rule: the higher maximum
-- leads at one step above the other maximum, capped at its own; of two equal maximums
-- the earlier leads), a bid in an extended auction's last seconds pushes the end, and
-- the bid and its events are appended.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] bidder   ARGV[2] bidder's display name   ARGV[3] amount
-- ARGV[4] maximum (0: none; a proxy bid up to it)   ARGV[5] event stream length cap
-- ARGV[6] payment lease ms (for the close)   ARGV[7] most bids an auction keeps
--
-- Returns {'leading' | 'outbid' | 'max_raised', view JSON}
--       | {'refused', code, view JSON, winner's hold JSON or ''} (the hold when this
--         bid's look closed the auction: the caller charges the winner)
--#include _sale.lua
--#include _award.lua

local user, name, amount = ARGV[1], ARGV[2], tonumber(ARGV[3])
local top = math.max(amount, tonumber(ARGV[4]))
local maxlen, lease_ms = ARGV[5], tonumber(ARGV[6])

local a = load_item()
if not a then return missing() end
local now = now_ms()
local function refuse(code, hold)
  return {'refused', code, cjson.encode(auction_view(a)), hold and cjson.encode(hold) or ''}
end
local hold = close_auction(a, now, maxlen, lease_ms)
if hold ~= nil then return refuse('auction_ended', hold) end
if a.state == 'cancelled' then return refuse('auction_cancelled') end
if a.state ~= 'running' then return refuse('auction_ended') end
local gate = sales_gate(user)
if gate then return refuse(gate) end
if redis.call('SISMEMBER', A.removed, user) == 1 then return refuse('removed') end
if num(a, 'bids') >= tonumber(ARGV[7]) then return refuse('bid_limit') end
if amount < next_bid(a) then return refuse('bid_too_low') end

local rows = cjson.decode(a.increments)
if a.leader == user then
  -- Bidding against oneself is not a bid: only a higher maximum is kept (secret).
  if top <= num(a, 'leader_max') then return refuse('already_leading') end
  local mine = cjson.decode(redis.call('HGET', A.who, user))
  mine.max = top
  redis.call('HSET', A.who, user, cjson.encode(mine))
  redis.call('HSET', A.item, 'leader_max', int(top))
  return {'max_raised', cjson.encode(auction_view(a))}
end

local seq = redis.call('HINCRBY', A.item, 'seq', 1)
redis.call('HSET', A.who, user, cjson.encode({max = top, seq = seq, name = name}))
local result, price, outbid = 'leading', amount, cjson.null
if a.leader == '' then
  a.leader, a.leader_name, a.leader_max = user, name, int(top)
else
  local lm = num(a, 'leader_max')
  if top > lm then
    outbid = a.leader
    price = math.max(amount, math.min(top, lm + step_at(rows, lm)))
    a.leader, a.leader_name, a.leader_max = user, name, int(top)
  else
    result = 'outbid'
    price = math.min(lm, top + step_at(rows, top))
  end
end

local ends = num(a, 'ends_ms')
local extend_ms = num(a, 'extend_ms')
local extended = a.mode == 'extended' and ends - now < extend_ms
if extended then
  ends = now + extend_ms
  redis.call('ZADD', A.due, ends, 'auction:' .. a.id)
end
a.price, a.ends_ms = int(price), int(ends)
a.bids = int(num(a, 'bids') + 1)
a.bidders = int(redis.call('HLEN', A.who))
redis.call('HSET', A.item, 'price', a.price, 'leader', a.leader, 'leader_name', a.leader_name,
           'leader_max', a.leader_max, 'ends_ms', a.ends_ms, 'bids', a.bids,
           'bidders', a.bidders)
redis.call('RPUSH', A.list, cjson.encode({n = tonumber(a.bids), at_ms = now, bidder = user,
           bidder_name = name, amount = amount, price = price, leader = a.leader,
           ends_ms = ends}))
local next_amount = next_bid(a)
emit(maxlen, 'bid', cjson.encode({auction = a.id, price = price, leader = a.leader,
     leader_name = a.leader_name, bidder = user, outbid = outbid, bids = tonumber(a.bids),
     bidders = tonumber(a.bidders), ends_ms = ends, next_bid = next_amount, at_ms = now}))
if extended then
  emit(maxlen, 'auction_extended', cjson.encode({auction = a.id, ends_ms = ends}))
end
return {result, cjson.encode(auction_view(a))}
