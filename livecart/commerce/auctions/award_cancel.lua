-- award_cancel.lua: a moderator (or the streamer) cancels a running auction or
-- giveaway: no winner, the unit goes back to stock, `*_cancelled` tells everyone why.
-- One whose end has passed is no longer running: it is closed as any look would.
--
-- KEYS: the sale keys, see _sale.lua, then the award keys, see _award.lua
-- ARGV[1] reason   ARGV[2] who cancelled   ARGV[3] event stream length cap
--
-- Returns {'cancelled', view JSON} | {'refused', code}
--#include _sale.lua
--#include _award.lua

local maxlen = ARGV[3]
local a = load_item()
if not a then return missing() end
if a.state ~= 'running' or now_ms() >= num(a, 'ends_ms') then
  return {'refused', 'not_running'}
end
a.state, a.cancel_reason = 'cancelled', ARGV[1]
redis.call('HSET', A.item, 'state', 'cancelled', 'cancel_reason', ARGV[1],
           'ended_ms', int(now_ms()))
stop_running(a)
put_back(a.sku, maxlen)
local event = {reason = ARGV[1], by = ARGV[2]}
event[a.kind] = a.id
emit(maxlen, a.kind .. '_cancelled', cjson.encode(event))
return {'cancelled', cjson.encode(view_of(a))}
