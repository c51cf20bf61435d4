-- end_show.lua: the show ends; nothing sells after this step (holds already taken may
-- still be confirmed: their buyers tapped while it was live). A running flash sale ends
-- with it.
--
-- KEYS: the sale keys, see _sale.lua
-- ARGV[1]  event stream length cap
--
-- Returns {'ended', event id} | {'unchanged'} | {'refused', code}
--#include _sale.lua

local state = redis.call('HGET', K.show, 'state')
if not state then return {'refused', 'not_found'} end
if state == 'ended' then return {'unchanged'} end
local now = now_ms()
if redis.call('HGET', K.flash, 'state') == 'on' then
  local ends = tonumber(redis.call('HGET', K.flash, 'ends_ms'))
  if ends > now then redis.call('HSET', K.flash, 'ends_ms', int(now)) end
  redis.call('HSET', K.flash, 'state', 'ended')
  emit(ARGV[1], 'flash_ended', cjson.encode({id = redis.call('HGET', K.flash, 'id'),
                                             reason = 'show_ended'}))
end
redis.call('HSET', K.show, 'state', 'ended', 'ended_at', int(now))
return {'ended', emit(ARGV[1], 'show_ended', cjson.encode({ended_at_ms = now}))}
