-- auction_start.lua: the streamer (or the merchant) puts one unit of a lineup sku up for
-- auction: checks the show is live, no other auction runs and a unit is in stock, sets
-- the unit aside, and appends `auction_started`, in one step.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] auction id   ARGV[2] sku   ARGV[3] start price   ARGV[4] increments JSON
-- ARGV[5] mode ('sudden_death' | 'extended')   ARGV[6] extend ms   ARGV[7] duration ms
-- ARGV[8] event stream length cap
--
-- Returns {'started', view JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local id, sku, maxlen = ARGV[1], ARGV[2], ARGV[8]
local code = start_gate(sku, 'auction')
if code then return {'refused', code} end
local now = now_ms()
local ends = now + tonumber(ARGV[7])
redis.call('HSET', A.item, 'id', id, 'kind', 'auction', 'sku', sku,
           'card', redis.call('HGET', K.lineup, sku), 'start_price', ARGV[3],
           'increments', ARGV[4], 'mode', ARGV[5], 'extend_ms', ARGV[6],
           'started_ms', int(now), 'ends_ms', int(ends), 'state', 'running', 'price', '0',
           'bids', '0', 'bidders', '0', 'seq', '0', 'leader', '', 'leader_name', '',
           'leader_max', '0')
redis.call('HSET', K.show, 'auction', id, 'auction_running', id)
redis.call('ZADD', A.index, now, id)
redis.call('ZADD', A.due, ends, 'auction:' .. id)
set_aside(sku, maxlen)
local view = cjson.encode(auction_view(load_item()))
emit(maxlen, 'auction_started', '{"auction":' .. view .. '}')
return {'started', view}
