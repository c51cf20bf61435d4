-- giveaway_start.lua: the streamer gives one unit of a lineup sku away: checks the show
-- is live, no other giveaway runs and a unit is in stock, sets the unit aside, and
-- appends `giveaway_started`, in one step.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] giveaway id   ARGV[2] sku   ARGV[3] duration ms
-- ARGV[4] shipping ('free' | 'winner_pays')   ARGV[5] event stream length cap
--
-- Returns {'started', view JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local id, sku, maxlen = ARGV[1], ARGV[2], ARGV[5]
local code = start_gate(sku, 'giveaway')
if code then return {'refused', code} end
local now = now_ms()
local ends = now + tonumber(ARGV[3])
redis.call('HSET', A.item, 'id', id, 'kind', 'giveaway', 'sku', sku,
           'card', redis.call('HGET', K.lineup, sku), 'shipping', ARGV[4],
           'started_ms', int(now), 'ends_ms', int(ends), 'state', 'running', 'entrants', '0')
redis.call('HSET', K.show, 'giveaway', id, 'giveaway_running', id)
redis.call('ZADD', A.index, now, id)
redis.call('ZADD', A.due, ends, 'giveaway:' .. id)
set_aside(sku, maxlen)
local view = cjson.encode(giveaway_view(load_item()))
emit(maxlen, 'giveaway_started', '{"giveaway":' .. view .. '}')
return {'started', view}
