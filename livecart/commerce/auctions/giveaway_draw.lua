-- giveaway_draw.lua: the streamer ends a running giveaway now and draws its winner
-- (redraw = '1': the drawn winner did not pay; draw again among those not drawn yet).
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] event stream length cap   ARGV[2] payment lease ms
-- ARGV[3] a 52-bit random number   ARGV[4] '1': a redraw
--
-- Returns {'charge', view JSON, hold JSON} | {'seen', view JSON} (nobody entered)
--       | {'refused', code}
--#include _sale.lua
--#include _award.lua

local maxlen, lease_ms, rand = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local a = load_item()
if not a then return missing() end
local now = now_ms()
local hold
if ARGV[4] ~= '1' then
  hold = close_giveaway(a, now, maxlen, lease_ms, rand, true)
  if hold == nil then return {'refused', 'not_running'} end
else
  if a.payment ~= 'unpaid' then return {'refused', 'not_unpaid'} end
  local winner = draw_from_pool(rand)
  if not winner then return {'refused', 'no_entrants_left'} end
  local name = redis.call('HGET', A.who, winner) or ''
  redis.call('HSET', A.item, 'winner', winner, 'winner_name', name)
  a.winner, a.winner_name = winner, name
  emit(maxlen, 'giveaway_redrawn', cjson.encode({giveaway = a.id, winner = winner,
       winner_name = nullable(name), entrants = num(a, 'entrants')}))
  hold = start_charge(a, winner, name, 0, num(a, 'attempt') + 1, now, lease_ms)
end
local view = cjson.encode(giveaway_view(load_item()))
if hold then return {'charge', view, cjson.encode(hold)} end
return {'seen', view}
