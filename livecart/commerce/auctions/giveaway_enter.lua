-- giveaway_enter.lua: a viewer enters a running giveaway, once: a second entry counts
-- for nothing, a banned viewer is refused, an entry at or after the end (Redis TIME) is
-- refused and draws the winner.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] user   ARGV[2] display name   ARGV[3] event stream length cap
-- ARGV[4] payment lease ms   ARGV[5] a 52-bit random number (for the draw)
-- ARGV[6] most entrants a giveaway takes
--
-- Returns {'entered' | 'already', view JSON}
--       | {'refused', code, view JSON, winner's hold JSON or ''}
--#include _sale.lua
--#include _award.lua

local user, name, maxlen = ARGV[1], ARGV[2], ARGV[3]
local a = load_item()
if not a then return missing() end
local function refuse(code, hold)
  return {'refused', code, cjson.encode(giveaway_view(a)), hold and cjson.encode(hold) or ''}
end
local hold = close_giveaway(a, now_ms(), maxlen, tonumber(ARGV[4]), tonumber(ARGV[5]), false)
if hold ~= nil then return refuse('giveaway_ended', hold) end
if a.state == 'cancelled' then return refuse('giveaway_cancelled') end
if a.state ~= 'running' then return refuse('giveaway_ended') end
if redis.call('SISMEMBER', K.bans, user) == 1 then return refuse('banned') end
if redis.call('HGET', K.show, 'state') ~= 'live' then return refuse('not_live') end
if redis.call('HEXISTS', A.who, user) == 1 then
  return {'already', cjson.encode(giveaway_view(a))}
end
if num(a, 'entrants') >= tonumber(ARGV[6]) then return refuse('giveaway_full') end
redis.call('HSET', A.who, user, name)
redis.call('RPUSH', A.list, user)
a.entrants = int(redis.call('HINCRBY', A.item, 'entrants', 1))
emit(maxlen, 'giveaway_entries', cjson.encode({giveaway = a.id,
     entrants = tonumber(a.entrants)}))
return {'entered', cjson.encode(giveaway_view(a))}
